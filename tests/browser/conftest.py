"""A real server (`exastro-mail serve`) and a real browser (Debian's Chromium through Playwright)."""

import http.cookiejar
import itertools
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from exastro_mail.store.models import Organization, User
from tests.conftest import DEFAULT_PASSWORD, LOOPBACK_ALLOWED, build_app, csrf_token_from, make_org, make_user
from tests.ports import free_port

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


class LiveServer:
    """`exastro-mail serve` in a child process on a fresh instance folder."""

    def __init__(self, instance: Path, port: int, env: dict):
        self.instance = instance
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.log = instance / "server.log"
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "exastro_mail.cli", "serve", "--port", str(port), "--workers", "2"],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=1) as response:
                    if response.status == 200:
                        return
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"server did not start:\n{self.log.read_text()}")

    def stop(self):
        if self.process.poll() is None:
            # A graceful stop, as systemd's: each sync worker ends the request it is answering (the browser
            # may still be loading a page's script); gunicorn's quick stop (SIGINT) would cut it off
            # with a traceback in the log.
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def session_cookie(site, username: str) -> dict:
    """Log in as the browser would, over HTTP (the login page, then its form): the session cookie, for
    BrowserContext.add_cookies. For tests whose subject is a page behind the login, not the login."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    with opener.open(f"{site.org_url}/login", timeout=10) as response:
        token = csrf_token_from(response.read().decode())
    form = {"username": username, "password": DEFAULT_PASSWORD, "csrf_token": token}
    with opener.open(f"{site.org_url}/login", urllib.parse.urlencode(form).encode(), timeout=10) as response:
        assert response.url == f"{site.org_url}/platform/", response.url  # logged in: the menu
    config = site.app.config
    (cookie,) = [cookie for cookie in jar if cookie.name == config["SESSION_COOKIE_NAME"]]
    return {
        "name": cookie.name,
        "value": cookie.value,
        "url": site.url,
        "httpOnly": config["SESSION_COOKIE_HTTPONLY"],
        "sameSite": config["SESSION_COOKIE_SAMESITE"],
    }


class Site:
    """One organization on a served app, as a test addresses it: `url` is the server's, `org_url` the
    organization's (`org_url + "/login"`); admin "admin" and user "bob" (DEFAULT_PASSWORD)."""

    def __init__(self, server: LiveServer, app, org_id: str, org_name: str):
        self.server, self.app = server, app
        self.url = server.url
        self.org, self.org_name = org_id, org_name
        self.org_url = f"{server.url}/{org_id}"
        with app.app_context():
            org = make_org(org_id, org_name)
            make_user(org, "admin", admin=True)
            make_user(org, "bob")

    def user(self, username: str) -> User:
        """A user of this organization (inside an app context)."""
        return User.get((User.username == username) & (User.organization == self.organization()))

    def organization(self) -> Organization:
        """This organization's row (inside an app context)."""
        return Organization.get(Organization.org_id == self.org)


def start_server(folder: Path, **environment) -> tuple[object, LiveServer]:
    """`exastro-mail serve` on a fresh instance with no organization; (an app on the same database, for
    what a test writes itself, the server). environment adds EXASTRO_MAIL_* settings (without the prefix)."""
    instance = folder / "instance"
    port = free_port()
    app = build_app(folder, BASE_URL=f"http://127.0.0.1:{port}")
    settings = {
        "INSTANCE_PATH": str(instance),
        "BASE_URL": f"http://127.0.0.1:{port}",
        "WORKER_POLL_SECONDS": "0.2",
        "SMTP_TIMEOUT": "5",
        # The tests' peers are on loopback: the host policy must let the served app reach them.
        "SMTP_ALLOWED_HOSTS": LOOPBACK_ALLOWED,
        **environment,
    }
    env = {**os.environ, **{f"EXASTRO_MAIL_{name}": value for name, value in settings.items()}}
    return app, LiveServer(instance, port, env)


def serve_acme(tmp_path, **environment) -> Site:
    """A server of its own (stop it with stop_cleanly(site.server)) with organization acme (ACME Corp):
    for a test that changes the server's settings or sees every organization (the front page)."""
    app, server = start_server(tmp_path, **environment)
    return Site(server, app, "acme", "ACME Corp")


def stop_cleanly(server: LiveServer) -> str:
    """Stop the server; its log, which must hold no traceback."""
    server.stop()
    log = server.log.read_text()
    assert "Traceback" not in log, log
    return log


# A served app shared by the tests of one pytest process, each in an organization of its own: a
# `serve` costs about 1.8 s of CPU (gunicorn, its workers and the outbox worker, each importing the
# app), the browser run's largest part after Chromium. What one test does stays in its organization;
# the limits per client address, which every test shares (all come from 127.0.0.1), are out of reach.
# Limits per admin and per organization keep their defaults (tests/browser/test_test_mail_limit_story.py).
SHARED_SERVER_LIMITS = {
    setting: "100000 per 5 minutes"
    for setting in ("LOGIN_LIMIT_PER_CLIENT", "RESET_LIMIT_PER_CLIENT", "API_AUTH_LIMIT_PER_CLIENT")
}
ORGANIZATIONS = itertools.count(1)


@pytest.fixture(scope="session")
def shared_server(tmp_path_factory):
    app, server = start_server(tmp_path_factory.mktemp("shared-server"), **SHARED_SERVER_LIMITS)
    yield app, server
    stop_cleanly(server)


@pytest.fixture
def live_server(shared_server):
    """An organization of its own (admin "admin", user "bob") on the shared served app; the server's log
    must hold no traceback from the test's time."""
    app, server = shared_server
    number = next(ORGANIZATIONS)
    logged_before = server.log.stat().st_size
    yield Site(server, app, f"acme{number}", f"ACME Corp {number}")
    with open(server.log, "rb") as log:
        log.seek(logged_before)
        logged = log.read().decode(errors="replace")
    assert "Traceback" not in logged, logged


@pytest.fixture(scope="module")
def own_server(tmp_path_factory):
    """A served app of the module's own, with organization acme (ACME Corp) only: for tests that see
    every organization (the front page), which only read."""
    site = serve_acme(tmp_path_factory.mktemp("own-server"))
    yield site
    stop_cleanly(site.server)


@pytest.fixture(scope="session")
def chromium():
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing: .ci/run must install Debian's chromium")
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    playwright = sync_playwright().start()
    browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
    yield browser
    browser.close()
    playwright.stop()


class ConsoleProblems(list):
    """Console errors, warnings and page errors seen during a test (CSP violations land here)."""


@pytest.fixture
def page(chromium, request):
    context = chromium.new_context(locale="en-US", timezone_id="Asia/Tokyo")
    page = context.new_page()
    problems = ConsoleProblems()
    page.on(
        "console",
        lambda message: (
            problems.append(f"{message.type}: {message.text}")
            if message.type in ("error", "warning")
            else None
        ),
    )
    page.on("pageerror", lambda error: problems.append(f"pageerror: {error}"))
    page.console_problems = problems
    page.set_default_timeout(10_000)
    yield page
    if request.node.rep_call.failed if hasattr(request.node, "rep_call") else False:
        shot = Path("test-results") / f"{request.node.name}.png"
        shot.parent.mkdir(exist_ok=True)
        page.screenshot(path=str(shot), full_page=True)
    context.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)


def have_chromium() -> bool:
    return shutil.which("chromium") is not None


AXE = Path(__file__).parent / "node_modules" / "axe-core" / "axe.min.js"


@pytest.fixture(scope="session")
def axe_source() -> str:
    """axe-core's script (tests/browser/package.json, installed by `npm ci` in tests/browser)."""
    if not AXE.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{AXE} is missing: .ci/run must run `npm ci` in tests/browser")
        pytest.skip("axe-core is not installed (cd tests/browser && npm ci)")
    return AXE.read_text()


@pytest.fixture
def new_page(chromium, request):
    """Pages of their own browser contexts: new_page(width=375, locale="ja-JP", color_scheme="dark",
    javascript=True). Each gets .console_problems like the `page` fixture's."""
    contexts = []

    def make(width=1280, locale="en-US", color_scheme="light", javascript=True):
        context = chromium.new_context(
            locale=locale,
            timezone_id="Asia/Tokyo",
            viewport={"width": width, "height": 800},
            color_scheme=color_scheme,
            java_script_enabled=javascript,
        )
        contexts.append(context)
        page = context.new_page()
        problems = ConsoleProblems()
        page.on("console", lambda m: problems.append(f"{m.type}: {m.text}") if m.type == "error" else None)
        page.on("pageerror", lambda error: problems.append(f"pageerror: {error}"))
        page.console_problems = problems
        page.set_default_timeout(10_000)
        return page

    yield make
    failed = request.node.rep_call.failed if hasattr(request.node, "rep_call") else False
    for number, context in enumerate(contexts):
        if failed and context.pages:
            shot = Path("test-results") / f"{request.node.name}-{number}.png"
            shot.parent.mkdir(exist_ok=True)
            context.pages[0].screenshot(path=str(shot), full_page=True)
        context.close()
