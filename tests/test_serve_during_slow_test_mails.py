"""`exastro-mail serve` keeps answering while test mails wait on a server that never speaks: each goes
on beside its request, which answers within EXASTRO_MAIL_TEST_MAIL_WAIT_SECONDS, and the page follows
it (issue 12 finding 4; mailserver/test_runs.py)."""

import http.cookiejar
import re
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

from tests import test_serve_under_attack
from tests.conftest import LOOPBACK_ALLOWED, plain_test_mail_form
from tests.test_worker_processes import wait_until

# `exastro-mail serve --workers 2` (sync workers, its default), org acme and its admin.
serve = test_serve_under_attack.serve
SMTP_TIMEOUT = 6  # a test mail then waits up to 8 s (its deadline adds 2)
SIMULTANEOUS = 3
HTMX = {"HX-Request": "true", "HX-Target": "test-mail-result"}


def healthz(base: str) -> tuple[int, float]:
    """The status of /healthz and how long it took to come."""
    started = time.monotonic()
    try:
        with urllib.request.urlopen(base + "/healthz", timeout=30) as response:  # noqa: S310  # nosec B310
            status = response.status
    except OSError:
        status = 0
    return status, time.monotonic() - started


def logged_in_admin(base: str) -> urllib.request.OpenerDirector:
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
    form = urllib.parse.urlencode({"username": "admin", "password": "correct horse battery"}).encode()
    opener.open(base + "/acme/login", form, timeout=10).close()
    return opener


def send_test_mail(opener, base: str, server, answers: list) -> None:
    form = urllib.parse.urlencode(plain_test_mail_form(server)).encode()
    request = urllib.request.Request(base + "/acme/platform/settings/mailserver/test-mail", form, HTMX)
    started = time.monotonic()
    try:
        with opener.open(request, timeout=30) as response:
            answers.append((response.status, response.read().decode(), time.monotonic() - started))
    except urllib.error.HTTPError as error:
        answers.append((error.code, error.read().decode(), time.monotonic() - started))


def followed(opener, base: str, html: str, seconds: float) -> str:
    """The run's fragment, asked for again as the page does, until it has a result."""
    deadline = time.monotonic() + seconds
    while (follow := re.search(r'hx-get="([^"]+)"', html)) and time.monotonic() < deadline:
        time.sleep(0.5)
        with opener.open(urllib.request.Request(base + follow.group(1), headers=HTMX), timeout=10) as answer:
            if answer.status != 204:  # 204: no step has ended since, the page keeps what it shows
                html = answer.read().decode()
    return html


def test_healthz_answers_at_once_while_three_test_mails_wait_on_a_silent_server(serve, silent_server):
    base = serve(
        WTF_CSRF_ENABLED="false", SMTP_TIMEOUT=str(SMTP_TIMEOUT), SMTP_ALLOWED_HOSTS=LOOPBACK_ALLOWED
    )
    admin = logged_in_admin(base)
    answers = []
    senders = [
        threading.Thread(target=send_test_mail, args=(admin, base, silent_server, answers))
        for _ in range(SIMULTANEOUS)
    ]
    for sender in senders:
        sender.start()
    wait_until(lambda: silent_server.connections == SIMULTANEOUS, 5, "all three test mails to connect")

    checks = [healthz(base) for _ in range(5)]

    for sender in senders:
        sender.join(10)
    assert [status for status, _ in checks] == [200] * 5
    assert max(took for _, took in checks) < 1.0, checks
    # Each request answered after its wait (1 s), the third once a worker was free, long before the
    # silent server's deadline (8 s): the steps so far, and how the page asks for more.
    assert [status for status, _, _ in answers] == [202] * SIMULTANEOUS
    assert max(took for _, _, took in answers) < SMTP_TIMEOUT / 2, answers
    assert all("Waiting for the server" in html and "timed out" not in html for _, html, _ in answers)
    results = [followed(admin, base, html, SMTP_TIMEOUT + 10) for _, html, _ in answers]
    assert all("timed out" in html and "hx-get" not in html for html in results), results


def test_each_answer_closes_its_connection_so_no_worker_keeps_a_client_to_itself(serve):
    # gunicorn's gthread workers take every connection they can, and a kept-alive one stays: four
    # persistent clients (a proxy's pool, a load generator) all on one worker left the other idle
    # and halved the throughput (docs/benchmarks.md). Closed after each answer, as sync workers do.
    base = serve(WTF_CSRF_ENABLED="false")
    host, port = base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as client:
        client.sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: keep-alive\r\n\r\n")
        answer = b""
        while chunk := client.recv(65536):  # b"" once the server has closed the connection
            answer += chunk
    head = answer.split(b"\r\n\r\n", 1)[0].lower()
    assert head.startswith(b"http/1.1 200") and b"\r\nconnection: close" in head
