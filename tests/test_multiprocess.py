"""Several instances behind a load balancer, on the engine under test: 3 web processes (`exastro-mail
serve`) and 3 outbox workers (`exastro-mail worker`) share one database. Concurrent clients send 500
notifications through the API and 125 forgot-password forms; one worker is killed with SIGKILL midway.
Every mail reaches the SMTP server exactly once (counted by Message-ID), no answer is a 5xx, and no log
shows a locked database, a deadlock or a traceback.

The worker is killed while it waits for the server's reply to RCPT: SMTP cannot tell whether a message
the server had fully taken (its final 250 sent) was recorded as sent by a worker killed that very
instant (RFC 1047), and no design can close that gap; everywhere else a kill must cost nothing.
"""

import json
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.parse
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from http.client import HTTPConnection
from pathlib import Path

import pytest

from exastro_mail.api_tokens.tokens import issue_token
from exastro_mail.auth.passwords import hash_password
from exastro_mail.outbox import status
from exastro_mail.store.models import OutboxMessage, User
from tests.conftest import DEFAULT_PASSWORD, LOOPBACK_ALLOWED, build_app, csrf_token_from, make_org, make_user
from tests.outbox_helpers import point_settings_at
from tests.ports import free_port

EXASTRO_MAIL = str(Path(sys.executable).parent / "exastro-mail")
NOTIFICATIONS = 500
RESETS = 125
CLIENTS = 12
KILL_AFTER = 150  # messages received before the worker is killed
# Longer than the moment the SMTP server is held while the worker is killed, however loaded the machine:
# a lease must outlast any single exchange with the server, or two workers would both send that mail.
LEASE_SECONDS = 8
FORBIDDEN_IN_LOGS = ("database is locked", "deadlock", "Deadlock", "Lock wait timeout", "Traceback")


class Processes:
    """Child processes with their output in files; all stopped at the end."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.started: list[tuple[subprocess.Popen, Path]] = []

    def start(self, name: str, command: list[str], env: dict) -> subprocess.Popen:
        log = self.folder / f"{name}.log"
        with open(log, "wb") as output:
            process = subprocess.Popen(command, env=env, stdout=output, stderr=subprocess.STDOUT)
        self.started.append((process, log))
        return process

    def logs(self) -> str:
        return "".join(f"--- {log.name}\n{log.read_text()}" for _, log in self.started)

    def stop_all(self) -> None:
        for process, _ in self.started:
            if process.poll() is None:
                process.terminate()
        for process, _ in self.started:
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@pytest.fixture
def processes(tmp_path):
    started = Processes(tmp_path)
    yield started
    started.stop_all()


def request(port: int, method: str, path: str, body: bytes | None = None, headers=None):
    """One HTTP request to an instance; (status, headers, body)."""
    connection = HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.headers, response.read()
    finally:
        connection.close()


def wait_until(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


class FreezeOnRcpt:
    """An RCPT hook for the test SMTP server: once armed and past `after` messages, the next RCPT holds
    the server until released, so the test knows which worker is waiting on it and can kill that one."""

    def __init__(self, server_messages, after: int):
        self.server_messages = server_messages
        self.after = after
        self.frozen_address = None
        self.frozen = threading.Event()
        self.release = threading.Event()

    def __call__(self, address: str):
        if self.frozen_address is None and len(self.server_messages()) >= self.after:
            self.frozen_address = address
            self.frozen.set()
            self.release.wait(30)
        return None  # the server's normal answer


def test_three_instances_and_three_workers_deliver_everything_exactly_once(
    tmp_path, processes, smtp_server_factory
):
    hook = FreezeOnRcpt(lambda: server.messages, KILL_AFTER)
    server = smtp_server_factory(replies={"RCPT": hook})
    app = build_app(tmp_path)
    with app.app_context():
        organization = make_org()
        admin = make_user(organization, "admin", admin=True)
        point_settings_at(app, organization, server)
        _token, api_secret = issue_token(organization, admin, "load test")
        shared_hash = hash_password(DEFAULT_PASSWORD)  # one slow hash for every user
        User.insert_many(
            [
                {"organization": organization, "username": f"user{i}", "email": f"user{i}@example.com",
                 "password_hash": shared_hash}
                for i in range(RESETS)
            ]
        ).execute()  # fmt: skip

    env = {
        **os.environ,
        "EXASTRO_MAIL_INSTANCE_PATH": str(tmp_path / "instance"),  # one secret key for all three
        "EXASTRO_MAIL_DATABASE_URL": app.config["DATABASE_URL"],
        "EXASTRO_MAIL_BASE_URL": "http://mail.example.test",
        "EXASTRO_MAIL_WORKER_POLL_SECONDS": "0.05",
        "EXASTRO_MAIL_OUTBOX_LEASE_SECONDS": str(LEASE_SECONDS),
        "EXASTRO_MAIL_SMTP_TIMEOUT": "10",
        "EXASTRO_MAIL_SMTP_ALLOWED_HOSTS": LOOPBACK_ALLOWED,
        "EXASTRO_MAIL_RESET_LIMIT_PER_CLIENT": "100000 per minute",
    }
    ports = [free_port() for _ in range(3)]
    for number, port in enumerate(ports):
        processes.start(
            f"web-{number}",
            [EXASTRO_MAIL, "serve", "--port", str(port), "--workers", "1", "--no-outbox-worker"],
            env,
        )
    workers = [processes.start(f"worker-{number}", [EXASTRO_MAIL, "worker"], env) for number in range(3)]
    for port in ports:
        wait_until(lambda port=port: _answers(port), 30, f"exastro-mail serve on port {port}")

    session_travels_between_instances(ports)

    jobs = [("notification", i) for i in range(NOTIFICATIONS)] + [("reset", i) for i in range(RESETS)]
    random.Random(6).shuffle(jobs)
    answers: Counter = Counter()
    answers_lock = threading.Lock()

    def client(share: list[tuple[str, int]], number: int):
        # A browser's cookie and CSRF token, from one instance, good on all: they share the secret key.
        status_code, headers, page = request(ports[0], "GET", "/acme/forgot-password")
        assert status_code == 200
        cookie = headers["Set-Cookie"].split(";", 1)[0]
        token = re.search(rb'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1).decode()
        for index, (kind, i) in enumerate(share):
            port = ports[(number + index) % 3]  # round robin, as a load balancer would
            if kind == "notification":
                body = json.dumps(
                    {"to": [f"note{i}@example.net"], "title": f"Notice {i}", "message": f"Notice {i}."}
                )
                headers = {"Authorization": f"Bearer {api_secret}", "Content-Type": "application/json"}
                answer = request(port, "POST", "/api/acme/platform/notifications", body.encode(), headers)
            else:
                form = urllib.parse.urlencode({"identifier": f"user{i}", "csrf_token": token}).encode()
                headers = {"Cookie": cookie, "Content-Type": "application/x-www-form-urlencoded"}
                answer = request(port, "POST", "/acme/forgot-password", form, headers)
            with answers_lock:
                answers[(kind, answer[0])] += 1

    with ThreadPoolExecutor(CLIENTS) as pool:
        sent = [pool.submit(client, jobs[number::CLIENTS], number) for number in range(CLIENTS)]

        # Midway: the worker waiting on the frozen RCPT is killed, with its claimed batch in hand.
        assert hook.frozen.wait(120), "the workers never got that far"
        try:
            with app.app_context():
                held = OutboxMessage.get(
                    OutboxMessage.status == status.SENDING,
                    OutboxMessage.recipients.contains(f'"{hook.frozen_address}"'),
                )
            victim = next(worker for worker in workers if held.leased_by.split(":")[1] == str(worker.pid))
            victim.send_signal(signal.SIGKILL)
            victim.wait(10)
        finally:
            hook.release.set()
        for future in sent:
            future.result()

    assert answers == {("notification", 202): NOTIFICATIONS, ("reset", 200): RESETS}, answers
    total = NOTIFICATIONS + RESETS
    with app.app_context():
        wait_until(lambda: _count_sent() == total, 180, f"all {total} mails sent")
        rows = {row.message_id: row for row in OutboxMessage.select()}
    for worker in workers:
        if worker is not victim:
            worker.send_signal(signal.SIGTERM)
            assert worker.wait(30) == 0

    arrived = Counter(received.message["Message-ID"] for received in server.messages)
    assert set(arrived) == set(rows) and len(rows) == total
    assert max(arrived.values()) == 1, [mid for mid, count in arrived.items() if count > 1]
    assert victim.returncode == -signal.SIGKILL
    # The killed worker's lease was taken over: its message went out once, on a second attempt.
    assert rows[held.message_id].attempts == 2 and arrived[held.message_id] == 1
    logs = processes.logs()
    for forbidden in FORBIDDEN_IN_LOGS:
        assert forbidden not in logs, logs[-5000:]


def session_travels_between_instances(ports: list[int]) -> None:
    """Log in on the first instance, work on the second, log out on the third: the first then refuses."""
    status_code, headers, page = request(ports[0], "GET", "/acme/login")
    cookie = headers["Set-Cookie"].split(";", 1)[0]
    token = re.search(rb'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1).decode()
    form = urllib.parse.urlencode({"username": "admin", "password": DEFAULT_PASSWORD, "csrf_token": token})
    form_headers = {"Cookie": cookie, "Content-Type": "application/x-www-form-urlencoded"}
    status_code, headers, _ = request(ports[0], "POST", "/acme/login", form.encode(), form_headers)
    assert status_code == 302, status_code
    logged_in = {"Cookie": headers["Set-Cookie"].split(";", 1)[0]}
    status_code, headers, page = request(ports[1], "GET", "/acme/platform/", headers=logged_in)
    assert status_code == 200
    # The CSRF token changed at login: the menu's is new, and the session cookie that carries it.
    logged_in = {"Cookie": headers["Set-Cookie"].split(";", 1)[0]}
    token = csrf_token_from(page.decode())
    logout = urllib.parse.urlencode({"csrf_token": token}).encode()
    logout_headers = {**logged_in, "Content-Type": "application/x-www-form-urlencoded"}
    assert request(ports[2], "POST", "/acme/logout", logout, logout_headers)[0] == 303
    status_code, headers, _ = request(ports[0], "GET", "/acme/platform/", headers=logged_in)
    assert status_code == 302 and "/acme/login" in headers["Location"]


def _answers(port: int) -> bool:
    try:
        return request(port, "GET", "/healthz")[0] == 200
    except OSError:
        return False


def _count_sent() -> int:
    return OutboxMessage.select().where(OutboxMessage.status == status.SENT).count()
