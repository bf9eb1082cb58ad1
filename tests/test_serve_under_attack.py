"""`exastro-mail serve --workers 2` as an attacker meets it: the documented limits hold for the whole
install (the default storage counts one client's failures in the database, whichever worker answers),
a huge body is refused unread, and forwarded headers are believed only as EXASTRO_MAIL_PROXY_FIX_* say."""

import base64
import http.cookiejar
import os
import re
import socket
import sys
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import build_app, make_org, make_user
from tests.test_worker_processes import Processes, free_port, wait_until

EXASTRO_MAIL = str(Path(sys.executable).parent / "exastro-mail")


@pytest.fixture
def serve(tmp_path):
    """Start `exastro-mail serve --workers 2` on org acme with its admin; the limits at their defaults."""
    processes = Processes(tmp_path)

    def start(**settings):
        app = build_app(tmp_path)
        with app.app_context():
            make_user(make_org(), "admin", admin=True)
        port = free_port()
        env = {
            **os.environ,
            "EXASTRO_MAIL_INSTANCE_PATH": str(tmp_path / "instance"),
            "EXASTRO_MAIL_BASE_URL": f"http://127.0.0.1:{port}",
            "EXASTRO_MAIL_PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000",
            **{f"EXASTRO_MAIL_{name}": value for name, value in settings.items()},
        }
        env.pop("EXASTRO_MAIL_RATELIMIT_STORAGE_URI", None)
        command = [EXASTRO_MAIL, "serve", "--port", str(port), "--workers", "2", "--no-outbox-worker"]
        processes.start(command, env)
        base = f"http://127.0.0.1:{port}"
        wait_until(lambda: _status(base + "/healthz") == 200, 20, "the server to answer")
        return base

    yield start
    processes.stop_all()
    assert "Traceback" not in processes.all_output()


@pytest.fixture
def server(serve):
    return serve(WTF_CSRF_ENABLED="false")


def _status(url: str, data: bytes | None = None, headers=None) -> int:
    request = urllib.request.Request(url, data=data, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return 0


def test_the_31st_login_failure_of_a_client_is_refused_whichever_worker_counts(server):
    form = urllib.parse.urlencode({"username": "admin", "password": "not the password"}).encode()
    # Each request on a new connection: the two workers take them as they come.
    codes = [_status(server + "/acme/login", form) for _ in range(35)]
    assert codes == [200] * 30 + [429] * 5, codes


def test_the_21st_failed_api_authentication_is_refused_whichever_worker_counts(server):
    wrong = {"Authorization": "Basic " + base64.b64encode(b"admin:not the password").decode()}
    codes = [_status(server + "/api/acme/platform/settings/mailserver", headers=wrong) for _ in range(25)]
    assert codes == [401] * 20 + [429] * 5, codes


def test_a_300_mb_form_post_is_refused_before_its_body_is_read(server):
    host, port = urllib.parse.urlsplit(server).netloc.split(":")
    with socket.create_connection((host, int(port)), timeout=10) as connection:
        connection.sendall(
            b"POST /acme/login HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: application/x-www-form-urlencoded\r\n"
            b"Content-Length: 314572800\r\n\r\nusername=admin&password=xxxx"
        )
        answer = b""  # answered without waiting for the other 300 MB, and the connection closed
        while chunk := connection.recv(65536):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 413 "), answer[:200]
    assert b"What was sent is too large." in answer


def test_x_forwarded_proto_from_loopback_is_not_believed_without_proxy_fix(serve):
    base = serve()  # EXASTRO_MAIL_PROXY_FIX_X_PROTO=0: no proxy in front
    browser = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
    page = browser.open(base + "/acme/login", timeout=5).read().decode()
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    form = urllib.parse.urlencode({"username": "admin", "password": "wrong", "csrf_token": token}).encode()
    # Believed, the request would be HTTPS, where the CSRF check also demands a same-site Referer.
    forged = urllib.request.Request(base + "/acme/login", data=form, headers={"X-Forwarded-Proto": "https"})
    with browser.open(forged, timeout=5) as answer:
        assert answer.status == 200
        assert "The username or password is incorrect." in answer.read().decode()
