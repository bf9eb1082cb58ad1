"""Mixed traffic against `exastro-mail serve`: throughput, p50/p95/p99 and errors by kind of request, and
each process's peak memory.

Starts a local SMTP server (bench/local_smtp.py) and `exastro-mail serve` (gunicorn sync workers and its
outbox worker) on a fresh instance folder, one or several instances on the same database, then runs
client threads for a fixed time. Each client is a browser that logged in once (its cookie and CSRF
token) and picks, by weight: the login page, a login, the settings page, a settings save, a
forgot-password form, or an API notification (Bearer token), each instance in turn as a load balancer
would. Rate limits are raised out of reach. Every process started is stopped before the script exits.

    .venv/bin/pip install -e '.[bench]'
    .venv/bin/python bench/load.py                                      # SQLite, 1 instance, 30 s
    .venv/bin/python bench/load.py --instances 2 --workers 2 \\
        --database-url postgresql://postgres@127.0.0.1:5432/loadtest --redis redis://127.0.0.1:6379/14

A server database must exist (it may be empty: the script runs init-db); each run adds its own
organization (load<random>), so runs can share one.
"""

import argparse
import os
import random
import re
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from collections import defaultdict
from http.client import HTTPConnection
from pathlib import Path

import psutil
from local_smtp import HOST, LocalSmtpServer, free_port

REPO = Path(__file__).resolve().parent.parent
PASSWORD = "correct horse battery"  # noqa: S105 (the bench users' password)
USERS = 200
# kind: (weight, statuses that count as success)
MIX = {
    "login page": (30, {200}),
    "login": (2, {302}),
    "settings page": (20, {200}),
    "settings save": (5, {200, 303}),
    "forgot password": (15, {200}),
    "API notification": (28, {202}),
}
CSRF = re.compile(rb'name="csrf_token" type="hidden" value="([^"]+)"')
PREPARE = """
import sys
from exastro_mail import create_app, migrations
from exastro_mail.accounts import create_organization, create_user
from exastro_mail.api.tokens import issue_token
from exastro_mail.auth.passwords import hash_password
from exastro_mail.mailserver.store import save_settings
from exastro_mail.models import User
org_id, smtp_port, users, password = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
app = create_app()
with app.app_context():
    migrations.migrate()
    org = create_organization(org_id, "Load test")
    admin = create_user(org, "admin", "admin@example.com", password, admin=True)
    shared = hash_password(password)
    User.insert_many([{"organization": org, "username": f"user{i}", "email": f"user{i}@example.com",
                       "password_hash": shared} for i in range(users)]).execute()
    save_settings(org, {"smtp_host": "127.0.0.1", "smtp_port": smtp_port, "encryption": "none",
                        "authentication_enable": False, "send_from": "noreply@example.com"}, actor="load")
    print(issue_token(org, admin, "load test")[1])
"""


class Browser:
    """One client's cookie and CSRF token, over plain HTTP connections (gunicorn sync closes each)."""

    def __init__(self, ports: list[int]):
        self.ports = ports
        self.turn = random.randrange(len(ports))
        self.cookie = ""
        self.token = ""

    def send(self, method: str, path: str, body: bytes | None = None, headers: dict | None = None):
        self.turn = (self.turn + 1) % len(self.ports)
        connection = HTTPConnection(HOST, self.ports[self.turn], timeout=60)
        try:
            all_headers = {"Cookie": self.cookie} if self.cookie else {}
            all_headers.update(headers or {})
            connection.request(method, path, body=body, headers=all_headers)
            response = connection.getresponse()
            content = response.read()
            for value in response.headers.get_all("Set-Cookie") or ():
                if value.startswith("session="):
                    self.cookie = value.split(";", 1)[0]
            return response.status, content
        finally:
            connection.close()

    def form(self, path: str, fields: dict):
        body = urllib.parse.urlencode({**fields, "csrf_token": self.token}).encode()
        return self.send("POST", path, body, {"Content-Type": "application/x-www-form-urlencoded"})

    def log_in(self, org: str) -> int:
        status, page = self.send("GET", f"/{org}/login")
        self.token = CSRF.search(page).group(1).decode()
        return self.form(f"/{org}/login", {"username": "admin", "password": PASSWORD})[0]


def run_clients(ports, org, api_token, smtp_port, clients: int, duration: float):
    """Latencies (ms) and error counts by kind, from `clients` threads over `duration` seconds."""
    latencies: dict[str, list[float]] = defaultdict(list)
    errors: dict[str, int] = defaultdict(int)
    lock = threading.Lock()
    kinds = list(MIX)
    weights = [MIX[kind][0] for kind in kinds]
    deadline = time.monotonic() + duration

    def one(browser: Browser, kind: str, rng: random.Random):
        number = rng.randrange(1_000_000)
        if kind == "login page":
            return browser.send("GET", f"/{org}/login")[0]
        if kind == "login":
            return browser.log_in(org)
        if kind == "settings page":
            return browser.send("GET", f"/{org}/platform/settings/mailserver")[0]
        if kind == "settings save":
            fields = {
                "smtp_host": "127.0.0.1",
                "encryption": "none",
                "smtp_port": str(smtp_port),
                "send_from": "noreply@example.com",
                "send_name": f"Load test {number % 10}",
            }
            return browser.form(f"/{org}/platform/settings/mailserver", fields)[0]
        if kind == "forgot password":
            who = f"user{number % USERS}" if number % 2 else f"nobody{number}"
            return browser.form(f"/{org}/forgot-password", {"identifier": who})[0]
        body = f'{{"to": ["ops{number}@example.net"], "title": "Load {number}", "message": "Load test."}}'
        headers = {"Authorization": f"Bearer {api_token}", "Content-Type": "application/json"}
        return browser.send("POST", f"/api/{org}/platform/notifications", body.encode(), headers)[0]

    def client(seed: int):
        rng = random.Random(seed)
        browser = Browser(ports)
        browser.log_in(org)
        while time.monotonic() < deadline:
            kind = rng.choices(kinds, weights)[0]
            started = time.perf_counter()
            try:
                ok = one(browser, kind, rng) in MIX[kind][1]
            except OSError:
                ok = False
            taken = (time.perf_counter() - started) * 1000
            with lock:
                latencies[kind].append(taken)
                errors[kind] += not ok

    threads = [threading.Thread(target=client, args=(seed,)) for seed in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return latencies, errors


class MemoryWatch:
    """Samples the resident memory of the given processes and their children; keeps each one's peak."""

    def __init__(self, pids: list[int]):
        self.roots = [psutil.Process(pid) for pid in pids]
        self.peaks: dict[int, tuple[str, int]] = {}
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self.stop.wait(0.25):
            for root in self.roots:
                try:
                    family = [root, *root.children(recursive=True)]
                except psutil.NoSuchProcess:
                    continue
                for process in family:
                    try:
                        rss = process.memory_info().rss
                        role = _role(root, process)
                    except psutil.NoSuchProcess:
                        continue
                    previous = self.peaks.get(process.pid, (role, 0))[1]
                    self.peaks[process.pid] = (role, max(previous, rss))

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join()


def _role(root, process) -> str:
    if process.pid == root.pid:
        return f"serve {root.pid}: gunicorn master"
    if "worker" in process.cmdline():
        return f"serve {root.pid}: outbox worker"
    return f"serve {root.pid}: web worker"


def percentile(ordered: list[float], fraction: float) -> float:
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))]


def report(latencies, errors, duration, delivered, peaks, setup: str) -> None:
    print(setup)
    print(f"{'kind':18} {'requests':>8} {'req/s':>7} {'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7} {'errors':>6}")
    everything = []
    for kind in MIX:
        taken = sorted(latencies.get(kind, []))
        everything += taken
        if taken:
            print(
                f"{kind:18} {len(taken):8d} {len(taken) / duration:7.1f} {statistics.median(taken):7.1f} "
                f"{percentile(taken, 0.95):7.1f} {percentile(taken, 0.99):7.1f} {errors[kind]:6d}"
            )
    everything.sort()
    if everything:
        print(
            f"{'all':18} {len(everything):8d} {len(everything) / duration:7.1f} "
            f"{statistics.median(everything):7.1f} {percentile(everything, 0.95):7.1f} "
            f"{percentile(everything, 0.99):7.1f} {sum(errors.values()):6d}"
        )
    notifications = len(latencies.get("API notification", []))
    print(f"mails delivered during the run: {delivered} ({notifications} API notifications were queued)")
    print("peak memory (RSS):")
    for pid, (role, rss) in sorted(peaks.items(), key=lambda item: item[1][0]):
        print(f"  {role:36} pid {pid:7d} {rss / 2**20:7.1f} MiB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=30.0, help="seconds of load (default 30)")
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients (default 8)")
    parser.add_argument("--instances", type=int, default=1, help="`exastro-mail serve` processes (default 1)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers per instance (default 2)")
    parser.add_argument(
        "--database-url", help="EXASTRO_MAIL_DATABASE_URL (default: SQLite in a temporary folder)"
    )
    parser.add_argument("--redis", help="EXASTRO_MAIL_RATELIMIT_STORAGE_URI, e.g. redis://127.0.0.1:6379/14")
    options = parser.parse_args()

    smtp = LocalSmtpServer().start()
    ports = [free_port() for _ in range(options.instances)]
    org = f"load{secrets.token_hex(3)}"
    servers: list[subprocess.Popen] = []
    with tempfile.TemporaryDirectory(prefix="exastro-load-") as folder:
        env = {
            **os.environ,
            "EXASTRO_MAIL_INSTANCE_PATH": str(Path(folder) / "instance"),
            "EXASTRO_MAIL_BASE_URL": f"http://{HOST}:{ports[0]}",
            "EXASTRO_MAIL_LOGIN_LIMIT_PER_CLIENT": "1000000 per minute",
            "EXASTRO_MAIL_RESET_LIMIT_PER_CLIENT": "1000000 per minute",
            "EXASTRO_MAIL_RESET_LIMIT_PER_ACCOUNT": "1000000 per minute",
            "EXASTRO_MAIL_API_AUTH_LIMIT_PER_CLIENT": "1000000 per minute",
        }
        if options.database_url:
            env["EXASTRO_MAIL_DATABASE_URL"] = options.database_url
        if options.redis:
            env["EXASTRO_MAIL_RATELIMIT_STORAGE_URI"] = options.redis
        prepared = subprocess.run(
            [sys.executable, "-c", PREPARE, org, str(smtp.port), str(USERS), PASSWORD],
            env=env,
            cwd=REPO,
            check=True,
            capture_output=True,
            text=True,
        )
        api_token = prepared.stdout.split()[-1]
        try:
            for port in ports:
                command = [sys.executable, "-m", "exastro_mail.cli", "serve", "--port", str(port)]
                servers.append(
                    subprocess.Popen(
                        [*command, "--workers", str(options.workers)],
                        cwd=REPO,
                        env=env,
                        stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL,
                    )
                )
            for port in ports:
                _wait_for(port)
            Browser(ports).send("GET", f"/{org}/login")  # warm-up: imports, templates, first connections
            delivered_before = smtp.received
            with MemoryWatch([server.pid for server in servers]) as memory:
                latencies, errors = run_clients(
                    ports, org, api_token, smtp.port, options.clients, options.duration
                )
                time.sleep(1)  # one more sample after the last request
            delivered = smtp.received - delivered_before
        finally:
            for server in servers:
                server.send_signal(signal.SIGTERM)
            for server in servers:
                server.wait(60)
            smtp.stop()
    engine = (options.database_url or "sqlite").split(":", 1)[0]
    setup = (
        f"exastro-mail load: {options.instances} instance(s) x {options.workers} web workers "
        f"+ 1 outbox worker each, {engine}, rate limits in {'Redis' if options.redis else 'memory'}, "
        f"{options.clients} clients, {options.duration:g} s"
    )
    report(latencies, errors, options.duration, delivered, memory.peaks, setup)


def _wait_for(port: int) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            connection = HTTPConnection(HOST, port, timeout=1)
            connection.request("GET", "/healthz")
            if connection.getresponse().status == 200:
                connection.close()
                return
            connection.close()
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"exastro-mail serve on port {port} did not answer /healthz in time")


if __name__ == "__main__":
    main()
