"""How long a forgot-password POST takes while the organization's SMTP server answers every line 3 s late.

Starts a local SMTP server that waits 3 s before each reply, then `exastro-mail serve` (gunicorn, 2 sync
workers, and its outbox worker, which is stuck talking to that slow server throughout) on a fresh instance
folder, and posts the forgot-password form as a browser would (CSRF token and cookie), alternating an
existing account and an unknown one. It prints the median and p95 latency, for all requests and for each
kind of account, against the goal (p95 under 50 ms): the request only stores a token and queues a mail,
so a slow server must not show in it.

    .venv/bin/python bench/forgot_password_latency.py [--requests 300] [--delay 3]

Everything listens on 127.0.0.1; every process started is stopped before the script exits.
"""

import argparse
import http.cookiejar
import os
import re
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from local_smtp import HOST, LocalSmtpServer, free_port

REPO = Path(__file__).resolve().parent.parent
GOAL_P95_MS = 50.0
READY_SECONDS = 30


def prepare(instance: Path, smtp_port: int, base_url: str, env: dict) -> None:
    """Create the schema, organization acme, user alice and settings pointing at the slow server."""
    script = f"""
from exastro_mail import create_app
from exastro_mail.store import migrations
from exastro_mail.auth.accounts import create_organization, create_user
from exastro_mail.mailserver.store import save_settings
app = create_app()
with app.app_context():
    migrations.migrate()
    org = create_organization("acme", "ACME Corp")
    create_user(org, "alice", "alice@example.com", "correct horse battery")
    save_settings(org, {{"smtp_host": "{HOST}", "smtp_port": {smtp_port}, "encryption": "none",
                        "authentication_enable": False, "send_from": "noreply@example.com"}}, actor="bench")
"""
    subprocess.run([sys.executable, "-c", script], env=env, check=True)


def wait_until_ready(url: str) -> None:
    deadline = time.monotonic() + READY_SECONDS
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise SystemExit("exastro-mail serve did not answer /healthz in time")


def measure(base: str, requests: int) -> dict[str, list[float]]:
    """Post the form `requests` times, alternating a real and an unknown account; latencies in ms."""
    browser = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
    page = browser.open(f"{base}/acme/forgot-password", timeout=10).read().decode()
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    taken: dict[str, list[float]] = {"existing": [], "unknown": []}
    for number in range(requests):
        kind, identifier = ("existing", "alice") if number % 2 == 0 else ("unknown", f"nobody{number}")
        body = urllib.parse.urlencode({"identifier": identifier, "csrf_token": token}).encode()
        started = time.perf_counter()
        try:
            with browser.open(f"{base}/acme/forgot-password", data=body, timeout=10) as response:
                response.read()
        except urllib.error.HTTPError as error:
            raise SystemExit(
                f"request {number} answered {error.code}: {error.read().decode()[:2000]}"
            ) from None
        taken[kind].append((time.perf_counter() - started) * 1000)
    return taken


def summary(values: list[float]) -> str:
    ordered = sorted(values)
    p95 = ordered[max(0, round(0.95 * len(ordered)) - 1)]
    return f"median {statistics.median(ordered):6.1f} ms   p95 {p95:6.1f} ms   (n={len(ordered)})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--delay", type=float, default=3.0, help="seconds before every SMTP reply")
    options = parser.parse_args()

    smtp = LocalSmtpServer().start()
    smtp.delay = options.delay
    port = free_port()
    base = f"http://{HOST}:{port}"
    with tempfile.TemporaryDirectory(prefix="exastro-bench-") as folder:
        instance = Path(folder) / "instance"
        env = {
            **os.environ,
            "EXASTRO_MAIL_INSTANCE_PATH": str(instance),
            "EXASTRO_MAIL_BASE_URL": base,
            # Limits off for the benchmark: every request for alice queues a mail.
            "EXASTRO_MAIL_RESET_LIMIT_PER_CLIENT": "1000000 per minute",
            "EXASTRO_MAIL_RESET_LIMIT_PER_ACCOUNT": "1000000 per minute",
            "EXASTRO_MAIL_SMTP_ALLOWED_HOSTS": HOST,  # the local SMTP server (loopback is refused by default)
        }
        prepare(instance, smtp.port, base, env)
        server = subprocess.Popen(
            [sys.executable, "-m", "exastro_mail.cli", "serve", "--port", str(port), "--workers", "2"],
            cwd=REPO,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_until_ready(base)
            measure(base, 20)  # warm-up: imports, templates, first connections
            taken = measure(base, options.requests)
            delivered_meanwhile = smtp.received
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(60)
            smtp.stop()
        with sqlite3.connect(instance / "exastro-mail.sqlite3") as database:
            queued = database.execute("SELECT count(*) FROM outbox_message").fetchone()[0]

    everything = taken["existing"] + taken["unknown"]
    ordered = sorted(everything)
    p95 = ordered[max(0, round(0.95 * len(ordered)) - 1)]
    print(f"forgot-password POST while the SMTP server waits {options.delay:g} s before every reply")
    print(f"  all requests      {summary(everything)}")
    print(f"  existing account  {summary(taken['existing'])}")
    print(f"  unknown account   {summary(taken['unknown'])}")
    existing, unknown = statistics.median(taken["existing"]), statistics.median(taken["unknown"])
    print(f"  median existing / unknown: {existing / unknown:.3f}")
    print(f"  mails queued: {queued}; delivered by the slow server meanwhile: {delivered_meanwhile}")
    verdict = "met" if p95 < GOAL_P95_MS else "NOT met"
    print(f"  goal p95 < {GOAL_P95_MS:g} ms: {verdict} (p95/goal = {p95 / GOAL_P95_MS:.2f})")


if __name__ == "__main__":
    main()
