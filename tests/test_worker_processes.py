"""Real worker processes: one killed mid-batch loses nothing; two beside request processes never collide;
`exastro-mail serve` runs one beside gunicorn and stops it with itself."""

import contextlib
import http.cookiejar
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from pathlib import Path

import pytest

from exastro_mail.auth.passwords import hash_password
from exastro_mail.outbox import status
from exastro_mail.outbox.enqueue import enqueue_mail
from exastro_mail.store.db import db
from exastro_mail.store.models import OutboxMessage, User
from tests.conftest import DEFAULT_PASSWORD, LOOPBACK_ALLOWED, build_app, make_org
from tests.outbox_helpers import point_settings_at
from tests.ports import free_port

EXASTRO_MAIL = str(Path(sys.executable).parent / "exastro-mail")
# Each request process posts to the forgot-password page through a test client of its own app.
REQUESTER = """
import sys
from exastro_mail import create_app
app = create_app()
client = app.test_client()
codes = [client.post("/acme/forgot-password", data={"identifier": name}).status_code for name in sys.argv[1:]]
print(" ".join(map(str, codes)))
sys.exit(0 if set(codes) == {200} else 1)
"""


@pytest.fixture
def instance(tmp_path):
    """An app on tmp_path with organization acme, and the environment that points processes at it."""
    app = build_app(tmp_path)
    env = {
        **os.environ,
        "EXASTRO_MAIL_INSTANCE_PATH": str(tmp_path / "instance"),
        "EXASTRO_MAIL_BASE_URL": "http://mail.example.test",
        "EXASTRO_MAIL_WORKER_POLL_SECONDS": "0.05",
        "EXASTRO_MAIL_OUTBOX_LEASE_SECONDS": "2",
        "EXASTRO_MAIL_SMTP_TIMEOUT": "3",
        "EXASTRO_MAIL_SMTP_ALLOWED_HOSTS": LOOPBACK_ALLOWED,
        "EXASTRO_MAIL_RESET_LIMIT_PER_CLIENT": "1000 per minute",
        "EXASTRO_MAIL_WTF_CSRF_ENABLED": "false",
    }
    with app.app_context():
        app.organization = make_org()
        app.env = env
        yield app


class Processes:
    """Child processes started by a test, each with its output in a file; all stopped at the end."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.started: list[tuple[subprocess.Popen, Path]] = []

    def start(self, command: list[str], env: dict) -> subprocess.Popen:
        log = self.folder / f"process-{len(self.started)}.log"
        with open(log, "wb") as output:
            process = subprocess.Popen(command, env=env, stdout=output, stderr=subprocess.STDOUT)
        self.started.append((process, log))
        return process

    def output(self, process: subprocess.Popen) -> str:
        return next(log for started, log in self.started if started is process).read_text()

    def all_output(self) -> str:
        return "".join(log.read_text() for _, log in self.started)

    def stop_all(self):
        for process, _ in self.started:
            if process.poll() is None:
                process.terminate()
        for process, _ in self.started:
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@pytest.fixture
def processes(tmp_path):
    started = Processes(tmp_path)
    yield started
    started.stop_all()


def queue_notifications(organization, count):
    with db.atomic():
        return [
            enqueue_mail(
                organization,
                "notification",
                to=[f"user{i}@example.net"],
                subject=f"Notice {i}",
                body_text=f"Notice number {i}.",
            )
            for i in range(count)
        ]


def wait_until(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def statuses() -> Counter:
    return Counter(row.status for row in OutboxMessage.select(OutboxMessage.status))


def test_a_worker_killed_mid_batch_loses_nothing(instance, processes, smtp_server_factory):
    server = smtp_server_factory(delay=0.01)  # each reply a little late, so a batch takes a while
    point_settings_at(instance, instance.organization, server)
    messages = queue_notifications(instance.organization, 60)

    first = processes.start([EXASTRO_MAIL, "worker"], instance.env)
    server.wait_for(10, timeout=15)
    first.send_signal(signal.SIGKILL)
    first.wait()
    stuck = statuses()
    assert stuck[status.SENDING] > 0, stuck  # killed with a claimed batch in hand
    assert stuck[status.SENT] < 60

    second = processes.start([EXASTRO_MAIL, "worker"], instance.env)
    wait_until(lambda: statuses()[status.SENT] == 60, 20, "every message sent after the restart")
    second.send_signal(signal.SIGTERM)
    assert second.wait(10) == 0
    assert statuses() == Counter({status.SENT: 60})
    arrived = Counter(received.message["Message-ID"] for received in server.messages)
    assert set(arrived) == {message.message_id for message in messages}
    assert max(arrived.values()) <= 2  # at worst twice, and then with the same Message-ID
    assert "Traceback" not in processes.output(second)


def test_requests_and_two_workers_side_by_side_never_collide(instance, processes, smtp_server):
    point_settings_at(instance, instance.organization, smtp_server)
    password_hash = hash_password(DEFAULT_PASSWORD)  # one slow hash shared by every user
    User.insert_many(
        [
            {
                "organization": instance.organization,
                "username": f"user{i}",
                "email": f"user{i}@example.com",
                "password_hash": password_hash,
            }
            for i in range(30)
        ]
    ).execute()
    workers = [processes.start([EXASTRO_MAIL, "worker"], instance.env) for _ in range(2)]
    requesters = [
        processes.start(
            [sys.executable, "-c", REQUESTER]
            + [name for i in range(part, 30, 3) for name in (f"user{i}", f"nobody{i}")],
            instance.env,
        )
        for part in range(3)
    ]
    for requester in requesters:
        assert requester.wait(30) == 0, processes.output(requester)
    wait_until(lambda: statuses()[status.SENT] == 30, 20, "all 30 reset mails sent")
    for worker in workers:
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(10) == 0

    assert "database is locked" not in processes.all_output()
    assert "Traceback" not in processes.all_output()
    rows = list(OutboxMessage.select())
    assert len(rows) == 30 and {row.attempts for row in rows} == {1}  # nobody claimed a message twice
    arrived = Counter(received.message["Message-ID"] for received in smtp_server.messages)
    assert sorted(arrived.values()) == [1] * 30
    assert {recipient for received in smtp_server.messages for recipient in received.recipients} == {
        f"user{i}@example.com" for i in range(30)
    }


def test_serve_delivers_through_its_outbox_worker_and_stops_it(instance, processes, smtp_server):
    point_settings_at(instance, instance.organization, smtp_server)
    User.create(
        organization=instance.organization,
        username="alice",
        email="alice@example.com",
        password_hash=hash_password(DEFAULT_PASSWORD),
    )
    port = free_port()
    env = {**instance.env, "EXASTRO_MAIL_BASE_URL": f"http://127.0.0.1:{port}"}
    del env["EXASTRO_MAIL_WTF_CSRF_ENABLED"]
    server = processes.start([EXASTRO_MAIL, "serve", "--port", str(port), "--workers", "1"], env)
    base = f"http://127.0.0.1:{port}"
    wait_until(lambda: _answers(base + "/healthz"), 20, "the server to answer")

    # Two browsers on one gunicorn worker: each must get its own session and CSRF token.
    for identifier in ("alice", "nobody"):
        assert _post_forgot_password(base, identifier) == 200
    received = smtp_server.wait_for(1, timeout=15)[0]
    link = re.search(r"http://\S+/reset-password/\S+", received.message.get_body(("plain",)).get_content())
    assert link.group(0).startswith(f"{base}/acme/reset-password/")

    children = _children(server.pid)
    assert children, "serve started no outbox worker"
    # At the web workers' priority: a reset mail must not wait for the CPU (cli.WORKER_COMMAND).
    assert [os.getpriority(os.PRIO_PROCESS, pid) for pid in children] == [os.getpriority(os.PRIO_PROCESS, 0)]
    web_workers = [pid for pid in _children(server.pid, outbox=False) if pid not in children]
    assert web_workers and {os.getpriority(os.PRIO_PROCESS, pid) for pid in web_workers} == {0}
    server.send_signal(signal.SIGTERM)
    assert server.wait(20) == 0
    assert all(not _running(pid) for pid in children)
    assert "Traceback" not in processes.output(server)


def test_the_outbox_worker_of_a_killed_server_stops_by_itself(instance, processes):
    port = free_port()
    server = processes.start([EXASTRO_MAIL, "serve", "--port", str(port), "--workers", "1"], instance.env)
    wait_until(lambda: _answers(f"http://127.0.0.1:{port}/healthz"), 20, "the server to answer")
    children = _children(server.pid)
    web_workers = [pid for pid in _children(server.pid, outbox=False) if pid not in children]
    assert children
    server.send_signal(signal.SIGKILL)
    server.wait()
    # It looks for its parent every second, once started: on a busy machine, starting alone
    # can take seconds.
    wait_until(lambda: not any(_running(pid) for pid in children), 30, "the orphaned outbox worker to stop")
    for pid in web_workers:  # gunicorn's own orphans notice only after their timeout: end them now
        with contextlib.suppress(ProcessLookupError):  # unless one already has
            os.kill(pid, signal.SIGTERM)


def test_serve_starts_its_outbox_worker_again_when_it_is_killed(instance, processes, smtp_server):
    # As gunicorn replaces a web worker that dies: without it, a worker killed by the OOM killer left
    # every page answering and every mail queued until someone restarted serve.
    point_settings_at(instance, instance.organization, smtp_server)
    port = free_port()
    server = processes.start([EXASTRO_MAIL, "serve", "--port", str(port), "--workers", "1"], instance.env)
    wait_until(lambda: _answers(f"http://127.0.0.1:{port}/healthz"), 20, "the server to answer")
    [first] = _children(server.pid)
    os.kill(first, signal.SIGKILL)

    wait_until(lambda: [pid for pid in _children(server.pid) if pid != first], 20, "another outbox worker")
    queue_notifications(instance.organization, 1)
    assert smtp_server.wait_for(1, timeout=20)[0].message["Subject"] == "Notice 0"
    [second] = _children(server.pid)
    assert second != first and not _running(first)
    log = processes.output(server)
    assert f"the outbox worker (pid {first}) ended (killed by SIGKILL); starting it again in 1 s" in log
    assert f"the outbox worker was started again (pid {second})" in log
    server.send_signal(signal.SIGTERM)
    assert server.wait(20) == 0
    assert not _running(second)
    assert "Traceback" not in processes.output(server)


def _post_forgot_password(base: str, identifier: str) -> int:
    """Open the forgot-password page in a fresh browser (cookie jar) and submit it."""
    browser = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
    page = browser.open(base + "/acme/forgot-password", timeout=5).read().decode()
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    form = urllib.parse.urlencode({"identifier": identifier, "csrf_token": token}).encode()
    try:
        with browser.open(base + "/acme/forgot-password", data=form, timeout=5) as answer:
            return answer.status
    except urllib.error.HTTPError as error:
        return error.code


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return response.status == 200
    except OSError:
        return False


def _children(pid: int, *, outbox: bool = True) -> list[int]:
    """Child processes of pid (started by any of its threads): those running the outbox worker, or with
    outbox=False all of them."""
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(FileNotFoundError):  # a thread that ended meanwhile
            children = (task / "children").read_text().split()
        for child in children:
            with contextlib.suppress(FileNotFoundError):  # a child that ended meanwhile
                command = Path(f"/proc/{child}/cmdline").read_bytes().split(b"\0")
                if b"worker" in command or not outbox:
                    found.append(int(child))
    return found


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"
