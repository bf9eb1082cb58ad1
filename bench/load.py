"""Mixed traffic against `exastro-mail serve`: throughput, p50/p95/p99 and errors by kind of request, and
each process's peak memory.

Starts a local SMTP server (bench/local_smtp.py) and `exastro-mail serve` (gunicorn sync workers and its
outbox worker) on a fresh instance folder, one or several instances on the same database, prepares an
organization (admin, users, mail sending server settings, an API token), then runs locust headless
(bench/locustfile.py) for a fixed time. Each locust user is a browser that logged in once (its cookie
and CSRF token) and picks, by weight: the login page, a login, the settings page, a settings save, a
forgot-password form, or an API notification (Bearer token), each instance in turn as a load balancer
would. Rate limits are raised out of reach. The numbers are locust's own statistics; the peak
resident memory of every process started is sampled every 0.25 s with psutil, and so is the CPU time
they use, beside the machine's (whatever else ran meanwhile shows). Every process started is stopped
before the script exits.

    .venv/bin/pip install -e '.[bench]'
    .venv/bin/python bench/load.py                                      # SQLite, 1 instance, 30 s
    .venv/bin/python bench/load.py --instances 2 --workers 2 \\
        --database-url postgresql://postgres@127.0.0.1:5432/loadtest --redis redis://127.0.0.1:6379/14

A server database must exist (it may be empty: the script runs init-db); each run adds its own
organization (load<random>), so runs can share one.
"""

import argparse
import json
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from http.client import HTTPConnection
from pathlib import Path

import psutil
from local_smtp import HOST, LocalSmtpServer, free_port

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
PASSWORD = "correct horse battery"  # noqa: S105 (the bench users' password)
USERS = 200
# The names bench/locustfile.py records, in the order printed (its MIX has their weights). Not imported
# from it: importing locust patches the standard library with gevent, which the SMTP thread here must not get.
KINDS = ["login page", "login", "settings page", "settings save", "forgot password", "API notification"]
PREPARE = """
import sys
from exastro_mail import create_app
from exastro_mail.store import migrations
from exastro_mail.auth.accounts import create_organization, create_user
from exastro_mail.api_tokens.tokens import issue_token
from exastro_mail.auth.passwords import hash_password
from exastro_mail.mailserver.store import save_settings
from exastro_mail.store.models import User
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
# Request to sent, for reset mails (issue 16: someone waits at the screen): each row keeps when the
# request was queued (created_at) and when the server took the mail (sent_at).
RESET_LATENCY = """
import statistics, sys
from exastro_mail import create_app
from exastro_mail.store.models import Organization, OutboxMessage
app = create_app()
with app.app_context():
    rows = OutboxMessage.select().join(Organization).where(
        Organization.org_id == sys.argv[1], OutboxMessage.kind == "password_reset")
    waits = sorted((row.sent_at - row.created_at).total_seconds() for row in rows if row.sent_at)
    unsent = sum(1 for row in rows if not row.sent_at and row.status in ("queued", "sending"))
    if waits:
        p95 = waits[min(len(waits) - 1, int(len(waits) * 0.95))]
        print(f"reset mails, request to sent: {len(waits)} sent, median {statistics.median(waits):.2f} s, "
              f"p95 {p95:.2f} s, max {waits[-1]:.2f} s; {unsent} not sent yet")
"""


class ProcessWatch:
    """Samples the processes of the run every 0.25 s: each one's peak resident memory, and the CPU time
    used while it ran, by the run's processes and by the machine as a whole (to show what else ran).

    Roots are watched with their children (`serve` and its workers, locust); load.py itself (the SMTP
    server's thread) without them. PostgreSQL backends serving `database`, if given, count as the run's
    CPU (not its memory: they are not processes the run started).
    """

    def __init__(self, database: str | None = None):
        self.roots: dict[psutil.Process, str] = {}
        self.database = database
        self.peaks: dict[int, tuple[str, int]] = {}
        self.cpu: dict[int, list[float]] = {}  # pid -> [CPU seconds when first seen, when last seen]
        self.backends: set[psutil.Process] = set()
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def add(self, pid: int, name: str) -> None:
        with self.lock:
            self.roots[psutil.Process(pid)] = name

    def _run(self):
        me = psutil.Process()
        rounds = 0
        while not self.stop.wait(0.25):
            with self.lock:
                roots = list(self.roots.items())
            for root, name in roots:
                try:
                    family = [root] if root.pid == me.pid else [root, *root.children(recursive=True)]
                except psutil.NoSuchProcess:
                    continue
                for process in family:
                    try:
                        rss = process.memory_info().rss
                        role = _role(root, name, process)
                    except psutil.NoSuchProcess:
                        continue
                    previous = self.peaks.get(process.pid, (role, 0))[1]
                    self.peaks[process.pid] = (role, max(previous, rss))
                    self._count(process)
            if self.database and rounds % 4 == 0:
                self._find_backends()
            for backend in list(self.backends):
                self._count(backend)
            rounds += 1

    def _count(self, process: psutil.Process) -> None:
        try:
            times = process.cpu_times()
        except psutil.Error:
            return
        used = times.user + times.system
        self.cpu.setdefault(process.pid, [used, used])[1] = used

    def _find_backends(self) -> None:
        # A backend's title names its database: "postgres: 15/main: postgres loadtest 127.0.0.1(40000) idle"
        for process in psutil.process_iter(["cmdline"]):
            line = " ".join(process.info["cmdline"] or ())
            if line.startswith("postgres: ") and f" {self.database} " in line:
                self.backends.add(process)

    def __enter__(self):
        self.machine_before = _busy_seconds()
        self.started = time.monotonic()
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join()
        self.seconds = time.monotonic() - self.started
        self.machine = _busy_seconds() - self.machine_before
        self.ours = sum(last - first for first, last in self.cpu.values())

    def cores(self, pid: int) -> float:
        """The CPU a process used while it was watched, in cores (CPU seconds per second)."""
        first, last = self.cpu.get(pid, (0.0, 0.0))
        return (last - first) / self.seconds


def _busy_seconds() -> float:
    times = psutil.cpu_times()
    return sum(times) - times.idle - getattr(times, "iowait", 0.0)


def _role(root, name: str, process) -> str:
    if name != "serve":
        return name
    if process.pid == root.pid:
        return f"serve {root.pid}: gunicorn master"
    if "worker" in process.cmdline():
        return f"serve {root.pid}: outbox worker"
    return f"serve {root.pid}: web worker"


def run_locust(instances: list[str], env: dict, clients: int, duration: int, folder: Path, watch):
    """Run bench/locustfile.py headless (watched by `watch`): its final statistics, and whether it warned
    that its own CPU was saturated."""
    result = folder / "locust.json"
    command = [
        sys.executable,
        "-m",
        "locust",
        "--locustfile",
        str(BENCH / "locustfile.py"),
        "--headless",
        "--host",
        instances[0],
        "--users",
        str(clients),
        "--spawn-rate",
        str(clients),  # every user at once
        "--run-time",
        f"{duration}s",
        "--stop-timeout",
        "0",
        "--only-summary",
        "--loglevel",
        "WARNING",
        "--exit-code-on-error",
        "0",
    ]
    log = folder / "locust.log"
    with open(log, "wb") as output:
        process = subprocess.Popen(
            command,
            cwd=BENCH,
            env={**env, "EXASTRO_LOAD_RESULT": str(result)},
            stdout=output,
            stderr=subprocess.STDOUT,
        )
        watch.add(process.pid, "locust (the load generator)")
        try:
            process.wait(duration + 60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    text = log.read_text(errors="replace")
    if process.returncode != 0 or not result.exists():
        raise SystemExit(f"locust failed (exit {process.returncode}):\n{text[-3000:]}")
    return json.loads(result.read_text()), "CPU usage above" in text


def report(result, delivered, watch: ProcessWatch, setup: str, cpu_warning: bool) -> None:
    print(setup)
    print(f"{'kind':26} {'requests':>8} {'req/s':>7} {'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7} {'errors':>6}")
    kinds, seconds = result["kinds"], result["seconds"] or 1
    starts = sorted(name for name in kinds if name.startswith(("start: ", "after login: ")))
    for kind in [*KINDS, "all", *starts]:
        row = kinds.get(kind)
        if not row or not row["requests"]:
            continue
        print(
            f"{kind:26} {row['requests']:8d} {row['requests'] / seconds:7.1f} {row['p50']:7d} "
            f"{row['p95']:7d} {row['p99']:7d} {row['failures']:6d}"
        )
    if result["errors"]:
        print("errors:")
        for error in sorted(result["errors"], key=lambda item: (item["name"], -item["occurrences"])):
            print(f"  {error['name']:18} {error['error'][:60]:60} {error['occurrences']:6d}")
    notifications = kinds.get("API notification")
    queued = notifications["requests"] - notifications["failures"] if notifications else 0
    print(f"mails delivered during the run: {delivered} ({queued} API notifications were queued)")
    if cpu_warning:
        print("locust warned that its own CPU use went above 90%: the load generator limited the numbers")
    cores, seconds = psutil.cpu_count(), watch.seconds
    others = max(0.0, watch.machine - watch.ours)
    print(
        f"CPU over {seconds:.0f} s, in cores of {cores}: the run's processes {watch.ours / seconds:.2f}"
        f"{' (with its PostgreSQL backends)' if watch.database else ''}, anything else on the machine "
        f"{others / seconds:.2f}"
    )
    print(f"each process: peak memory (RSS) and CPU (cores, over {seconds:.0f} s):")
    for pid, (role, rss) in sorted(watch.peaks.items(), key=lambda item: item[1][0]):
        print(f"  {role:36} pid {pid:7d} {rss / 2**20:7.1f} MiB {watch.cores(pid):5.2f}")
    if watch.backends:
        used = sum(watch.cores(backend.pid) for backend in watch.backends)
        label = f"PostgreSQL backends ({len(watch.backends)})"
        print(f"  {label:36}{'':24} {used:5.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=" ".join(__doc__.split("\n\n")[0].split()))
    parser.add_argument("--duration", type=float, default=30.0, help="seconds of load (default 30)")
    parser.add_argument("--clients", type=int, default=8, help="concurrent locust users (default 8)")
    parser.add_argument("--instances", type=int, default=1, help="`exastro-mail serve` processes (default 1)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers per instance (default 2)")
    parser.add_argument(
        "--database-url", help="EXASTRO_MAIL_DATABASE_URL (default: SQLite in a temporary folder)"
    )
    parser.add_argument("--redis", help="EXASTRO_MAIL_RATELIMIT_STORAGE_URI, e.g. redis://127.0.0.1:6379/14")
    options = parser.parse_args()
    duration = max(1, round(options.duration))

    smtp = LocalSmtpServer().start()
    ports = [free_port() for _ in range(options.instances)]
    instances = [f"http://{HOST}:{port}" for port in ports]
    org = f"load{secrets.token_hex(3)}"
    servers: list[subprocess.Popen] = []
    with tempfile.TemporaryDirectory(prefix="exastro-load-") as folder:
        env = {
            **os.environ,
            "EXASTRO_MAIL_INSTANCE_PATH": str(Path(folder) / "instance"),
            "EXASTRO_MAIL_BASE_URL": instances[0],
            "EXASTRO_MAIL_LOGIN_LIMIT_PER_CLIENT": "1000000 per minute",
            "EXASTRO_MAIL_RESET_LIMIT_PER_CLIENT": "1000000 per minute",
            "EXASTRO_MAIL_RESET_LIMIT_PER_ACCOUNT": "1000000 per minute",
            "EXASTRO_MAIL_API_AUTH_LIMIT_PER_CLIENT": "1000000 per minute",
            # The local SMTP server is on loopback, which the host policy refuses unless allowed (issue 12).
            "EXASTRO_MAIL_SMTP_ALLOWED_HOSTS": HOST,
        }
        if options.database_url:
            env["EXASTRO_MAIL_DATABASE_URL"] = options.database_url
        if options.redis:
            env["EXASTRO_MAIL_RATELIMIT_STORAGE_URI"] = options.redis
        try:
            prepared = subprocess.run(
                [sys.executable, "-c", PREPARE, org, str(smtp.port), str(USERS), PASSWORD],
                env=env,
                cwd=REPO,
                check=True,
                capture_output=True,
                text=True,
            )
        except subprocess.CalledProcessError as error:
            smtp.stop()
            raise SystemExit(f"preparing the organization failed:\n{error.stderr[-3000:]}") from None
        api_token = prepared.stdout.split()[-1]
        locust_env = {
            **{name: value for name, value in os.environ.items() if not name.startswith("EXASTRO_MAIL_")},
            "EXASTRO_LOAD_INSTANCES": ",".join(instances),
            "EXASTRO_LOAD_ORG": org,
            "EXASTRO_LOAD_PASSWORD": PASSWORD,
            "EXASTRO_LOAD_USERS": str(USERS),
            "EXASTRO_LOAD_TOKEN": api_token,
            "EXASTRO_LOAD_SMTP_PORT": str(smtp.port),
        }
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
                _get(port, f"/{org}/login")  # warm-up: imports, templates, first connections
            delivered_before = smtp.received
            database = urllib.parse.urlsplit(options.database_url or "").path.strip("/")
            engine = (options.database_url or "sqlite").split(":", 1)[0]
            with ProcessWatch(database if engine.startswith("postgres") else None) as watch:
                watch.add(os.getpid(), "bench/load.py (the SMTP server)")
                for server in servers:
                    watch.add(server.pid, "serve")
                result, cpu_warning = run_locust(
                    instances, locust_env, options.clients, duration, Path(folder), watch
                )
                time.sleep(1)  # one more sample after the last request
            delivered = smtp.received - delivered_before
            resets = subprocess.run(
                [sys.executable, "-c", RESET_LATENCY, org], env=env, cwd=REPO, capture_output=True, text=True
            ).stdout.strip()
        finally:
            for server in servers:
                server.send_signal(signal.SIGTERM)
            for server in servers:
                server.wait(60)
            smtp.stop()
    setup = (
        f"exastro-mail load: {options.instances} instance(s) x {options.workers} web workers "
        f"+ 1 outbox worker each, {engine}, rate limits in {'Redis' if options.redis else 'the database'}, "
        f"{options.clients} locust users, {duration} s"
    )
    report(result, delivered, watch, setup, cpu_warning)
    print(resets or "reset mails, request to sent: none sent")


def _get(port: int, path: str) -> int:
    connection = HTTPConnection(HOST, port, timeout=10)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


def _wait_for(port: int) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if _get(port, "/healthz") == 200:
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise SystemExit(f"exastro-mail serve on port {port} did not answer /healthz in time")


if __name__ == "__main__":
    main()
