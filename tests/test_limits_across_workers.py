"""The documented limits hold for the whole install: `exastro-mail serve --workers 2` with the default
storage counts one client's failures in the database, whichever worker answers."""

import base64
import os
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
def server(tmp_path):
    """`exastro-mail serve --workers 2` on org acme with its admin, with the limits at their defaults."""
    app = build_app(tmp_path)
    with app.app_context():
        make_user(make_org(), "admin", admin=True)
    port = free_port()
    env = {
        **os.environ,
        "EXASTRO_MAIL_INSTANCE_PATH": str(tmp_path / "instance"),
        "EXASTRO_MAIL_BASE_URL": f"http://127.0.0.1:{port}",
        "EXASTRO_MAIL_WTF_CSRF_ENABLED": "false",
        "EXASTRO_MAIL_PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000",
    }
    env.pop("EXASTRO_MAIL_RATELIMIT_STORAGE_URI", None)
    processes = Processes(tmp_path)
    processes.start(
        [EXASTRO_MAIL, "serve", "--port", str(port), "--workers", "2", "--no-outbox-worker"], env
    )
    base = f"http://127.0.0.1:{port}"
    wait_until(lambda: _status(base + "/healthz") == 200, 20, "the server to answer")
    yield base
    processes.stop_all()
    assert "Traceback" not in processes.all_output()


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
