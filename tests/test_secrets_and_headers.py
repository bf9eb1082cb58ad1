"""Secrets stay secret, keys are made once and kept, and every response carries the security headers."""

import logging
import os
import stat
from pathlib import Path

import pytest

from exastro_mail import create_app
from exastro_mail.auth.accounts import create_organization
from exastro_mail.config import ConfigError
from exastro_mail.store import migrations
from exastro_mail.store.db import close_all, db, engine
from tests.conftest import VALID_SETTINGS, build_app

SETTINGS = "/acme/platform/settings/mailserver"
SMTP_PASSWORD = VALID_SETTINGS["authentication_password"]


def test_keys_are_generated_once_with_mode_0600_and_reused(tmp_path):
    first = build_app(tmp_path)
    instance = tmp_path / "instance"
    for name in ("secret_key", "encryption_key"):
        mode = stat.S_IMODE(os.stat(instance / name).st_mode)
        assert mode == 0o600, f"{name} has mode {oct(mode)}"
    second = build_app(tmp_path)
    assert first.config["SECRET_KEY"] == second.config["SECRET_KEY"]
    assert first.config["ENCRYPTION_KEY"] == second.config["ENCRYPTION_KEY"]
    assert first.config["SECRET_KEY"] != first.config["ENCRYPTION_KEY"]


def test_the_instance_folder_is_made_readable_by_its_owner_only(tmp_path):
    build_app(tmp_path / "new" / "install")
    mode = stat.S_IMODE(os.stat(tmp_path / "new" / "install" / "instance").st_mode)
    assert mode == 0o700, f"the instance folder has mode {oct(mode)}"


def test_keys_from_the_environment_win(tmp_path, monkeypatch):
    from cryptography.fernet import Fernet

    key = Fernet.generate_key().decode()
    monkeypatch.setenv("EXASTRO_MAIL_SECRET_KEY", "from-the-environment")
    monkeypatch.setenv("EXASTRO_MAIL_ENCRYPTION_KEY", key)
    app = create_app({"INSTANCE_PATH": str(tmp_path)})
    assert app.config["SECRET_KEY"] == "from-the-environment"
    assert app.config["ENCRYPTION_KEY"] == key
    assert not (tmp_path / "secret_key").exists()


def test_a_bad_encryption_key_fails_loudly(tmp_path, monkeypatch):
    monkeypatch.setenv("EXASTRO_MAIL_ENCRYPTION_KEY", "too-short")
    with pytest.raises(ConfigError, match="EXASTRO_MAIL_ENCRYPTION_KEY"):
        create_app({"INSTANCE_PATH": str(tmp_path)})


def test_a_base_url_without_scheme_fails_loudly(tmp_path):
    with pytest.raises(ConfigError, match="EXASTRO_MAIL_BASE_URL"):
        create_app({"INSTANCE_PATH": str(tmp_path), "BASE_URL": "mail.example.com"})


@pytest.mark.parametrize(
    "value", ["mail server", "mailer.example.com:25", "-mailer.example", "メール.example"]
)
def test_an_ehlo_name_that_is_not_a_domain_name_fails_loudly(tmp_path, monkeypatch, value):
    monkeypatch.setenv("EXASTRO_MAIL_SMTP_EHLO_NAME", value)
    with pytest.raises(ConfigError, match="EXASTRO_MAIL_SMTP_EHLO_NAME must be a domain name"):
        create_app({"INSTANCE_PATH": str(tmp_path)})


@pytest.mark.parametrize(
    "name", ["RESET_LIMIT_PER_ACCOUNT", "RESET_LIMIT_PER_CLIENT", "LOGIN_LIMIT_PER_CLIENT"]
)
def test_a_rate_limit_that_is_not_one_fails_loudly(tmp_path, monkeypatch, name):
    monkeypatch.setenv(f"EXASTRO_MAIL_{name}", "three a day")
    with pytest.raises(ConfigError, match=f"EXASTRO_MAIL_{name} must be a rate limit such as"):
        create_app({"INSTANCE_PATH": str(tmp_path)})


def test_the_embedded_database_and_its_wal_are_readable_by_their_owner_only(tmp_path):
    app = create_app({"INSTANCE_PATH": str(tmp_path / "instance")})  # the default: SQLite in the folder
    with app.app_context():
        migrations.migrate()
        create_organization("acme", "ACME Corp")  # a write: the -wal and -shm files exist now
        files = sorted((tmp_path / "instance").glob("exastro-mail.sqlite3*"))
        assert [path.name for path in files] == [
            "exastro-mail.sqlite3",
            "exastro-mail.sqlite3-shm",
            "exastro-mail.sqlite3-wal",
        ]
        assert {path.name: oct(stat.S_IMODE(path.stat().st_mode)) for path in files} == {
            path.name: "0o600" for path in files
        }
    close_all(app.extensions["exastro_mail.db"])


def test_https_base_url_makes_cookies_secure(tmp_path):
    app = create_app({"INSTANCE_PATH": str(tmp_path), "BASE_URL": "https://mail.example.com/"})
    assert app.config["SESSION_COOKIE_SECURE"] is True
    assert app.config["BASE_URL"] == "https://mail.example.com"


def test_smtp_password_is_encrypted_at_rest_and_never_in_pages_or_logs(app, client, admin, auth, caplog):
    caplog.set_level(logging.DEBUG)
    auth.login()
    pages = [client.post(SETTINGS, data=VALID_SETTINGS, follow_redirects=True)]
    pages.append(client.get(SETTINGS))
    pages.append(client.get(SETTINGS + "/delete"))
    pages.append(client.post(SETTINGS, data={**VALID_SETTINGS, "smtp_port": "bad"}))
    for page in pages:
        assert SMTP_PASSWORD not in page.get_data(as_text=True)
    assert SMTP_PASSWORD not in caplog.text
    if engine() == "sqlite":
        database = Path(app.instance_path) / "exastro-mail.sqlite3"
        raw = b"".join(p.read_bytes() for p in database.parent.glob(database.name + "*"))
    else:  # a database server: every stored value of the table, as the server returns it
        raw = repr(db.execute_sql("SELECT * FROM mail_server_settings").fetchall()).encode()
    assert b"mailer" in raw  # the file was really read: the user name is stored in clear
    assert SMTP_PASSWORD.encode() not in raw


@pytest.mark.parametrize(
    "path", ["/acme/login", "/healthz", "/nosuch/login", "/static/css/app.css", SETTINGS]
)
def test_every_response_carries_the_security_headers(client, org, path):
    response = client.get(path)
    response.close()
    csp = response.headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "object-src 'none'" in csp and "base-uri 'none'" in csp
    assert "frame-ancestors 'none'" in csp and "form-action 'self'" in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "same-origin"


def test_pages_have_no_inline_script_or_style(client, admin, auth):
    auth.login()
    client.post(SETTINGS, data=VALID_SETTINGS)
    for path in ("/acme/login", "/acme/platform/", SETTINGS, SETTINGS + "/delete"):
        html = client.get(path).get_data(as_text=True)
        assert "<style" not in html and " style=" not in html
        for chunk in html.split("<script")[1:]:
            assert chunk.lstrip().startswith("src="), f"inline script on {path}"
        assert " onclick=" not in html and " hx-on" not in html
        assert '"allowEval": false' in html and '"includeIndicatorStyles": false' in html


def test_healthz_answers_while_the_database_does(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "database": "ok"}


def test_while_the_database_refuses_connections_every_answer_says_503(tmp_path, closed_port, caplog):
    url = f"postgresql://exastro:db-secret-pw@127.0.0.1:{closed_port}/exastro?connect_timeout=2"
    client = create_app({"INSTANCE_PATH": str(tmp_path), "DATABASE_URL": url}).test_client()
    health = client.get("/healthz")
    assert health.status_code == 503
    assert health.get_json() == {"status": "unavailable", "database": "unreachable"}
    page = client.get("/acme/login")
    assert page.status_code == 503 and page.headers["Retry-After"] == "30"
    assert "cannot reach its database" in page.get_data(as_text=True)
    api = client.get("/api/acme/platform/settings/mailserver")
    assert api.status_code == 503 and api.get_json()["result"] == "503-00000"
    with client.get("/static/css/app.css") as static:
        assert static.status_code == 200  # needs no database
    shown = page.get_data(as_text=True) + api.get_data(as_text=True) + caplog.text
    assert "db-secret-pw" not in shown


def test_unexpected_error_is_a_plain_500_page_without_details(app, client, org, monkeypatch):
    from exastro_mail.auth import views

    def explode(*_args, **_kwargs):
        raise RuntimeError("secret internal detail")

    monkeypatch.setattr(views, "render_anonymous_page", explode)
    app.config["PROPAGATE_EXCEPTIONS"] = False
    response = client.get("/acme/login")
    assert response.status_code == 500
    assert "secret internal detail" not in response.get_data(as_text=True)
    assert "Something went wrong" in response.get_data(as_text=True)


def test_method_not_allowed_names_the_allowed_methods(client, org):
    page = client.delete("/acme/login")
    assert page.status_code == 405
    assert set(page.headers["Allow"].split(", ")) >= {"GET", "POST"}
    api = client.put("/api/acme/platform/settings/mailserver")
    assert api.status_code == 405
    assert "GET" in api.headers["Allow"]
    body = api.get_json()
    assert body["result"] == "405-00000" and body["ts"].endswith("Z")
