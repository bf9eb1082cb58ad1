"""A real server (`exastro-mail serve`) and a real browser (Debian's Chromium through Playwright)."""

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import LOOPBACK_ALLOWED, build_app, make_org, make_user

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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


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
            # A quick stop (gunicorn's SIGINT): SIGTERM would wait out the browser's keep-alive connections.
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def serve_acme(tmp_path, **environment) -> LiveServer:
    """`exastro-mail serve` on a fresh instance: organization acme, admin "admin" and user "bob"
    (DEFAULT_PASSWORD); environment adds EXASTRO_MAIL_* settings (without the prefix)."""
    instance = tmp_path / "instance"
    port = free_port()
    app = build_app(tmp_path, BASE_URL=f"http://127.0.0.1:{port}")
    with app.app_context():
        org = make_org()
        make_user(org, "admin", admin=True)
        make_user(org, "bob")
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
    server = LiveServer(instance, port, env)
    server.app = app
    return server


def stop_cleanly(server: LiveServer) -> str:
    """Stop the server; its log, which must hold no traceback."""
    server.stop()
    log = server.log.read_text()
    assert "Traceback" not in log, log
    return log


@pytest.fixture
def live_server(tmp_path):
    """A served app: organization acme, admin "admin" and user "bob" (DEFAULT_PASSWORD)."""
    server = serve_acme(tmp_path)
    yield server
    stop_cleanly(server)


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
