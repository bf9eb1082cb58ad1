"""Moving an install between engines with `exastro-mail export` / `import`, and `exastro-mail backup`
of a running SQLite install."""

import contextlib
import sqlite3
import stat
import threading
from datetime import datetime

import pytest
from cryptography.fernet import Fernet

from exastro_mail import create_app
from exastro_mail.api_tokens.tokens import issue_token
from exastro_mail.outbox.enqueue import enqueue_mail
from exastro_mail.outbox.worker import deliver_due
from exastro_mail.store.audit import record
from exastro_mail.store.db import db
from exastro_mail.store.models import AuditEvent, Organization, OutboxMessage
from tests.conftest import LOOPBACK_ALLOWED, AuthActions, build_app, make_org, make_user
from tests.engine_fixtures import app_built, empty_database_url
from tests.outbox_helpers import SMTP_PASSWORD, SMTP_USER, point_settings_at


def app_on(tmp_path, url: str, key: str):
    """An app on a given database, sealing with the given key."""
    app = create_app(
        {
            "TESTING": True,
            "INSTANCE_PATH": str(tmp_path / "instance"),
            "DATABASE_URL": url,
            "ENCRYPTION_KEY": key,
            "WTF_CSRF_ENABLED": False,
            "BASE_URL": "http://mail.example.test",
            "SMTP_TIMEOUT": 3,
            "SMTP_ALLOWED_HOSTS": LOOPBACK_ALLOWED,
        }
    )
    app_built(app)
    return app


def sqlite_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'exastro-mail.sqlite3'}"


@pytest.fixture
def smtp(smtp_server_factory):
    return smtp_server_factory(auth={SMTP_USER: SMTP_PASSWORD}, auth_require_tls=False)


def make_source_install(app, smtp) -> str:
    """Organization acme with admin alice, settings with an SMTP password, a sent and a queued notice,
    audit events and an API token; returns the token's secret."""
    with app.app_context():
        organization = make_org()
        alice = make_user(organization, "alice", admin=True)
        point_settings_at(app, organization, smtp)
        with db.atomic():
            sent = enqueue_mail(
                organization, "notification", to=["ops@example.com"], subject="Went out", body_text="x"
            )
            enqueue_mail(
                organization, "notification", to=["ops@example.com"], subject="Still queued", body_text="y"
            )
        OutboxMessage.update(status="sent").where(OutboxMessage.id == sent.id).execute()
        _token, secret = issue_token(organization, alice, "monitoring")
        # More rows than one page of the export and one batch of the import (older: the log's last pages).
        long_ago = datetime(2020, 1, 1)
        AuditEvent.insert_many(
            [{"organization": organization, "action": "busy.day", "created_at": long_ago}] * 1200
        ).execute()
    return secret


@pytest.mark.parametrize(
    "direction", ["from the engine under test to SQLite", "from SQLite to the engine under test"]
)
def test_an_install_moves_between_engines_with_everything_users_see(tmp_path, smtp, direction):
    key = Fernet.generate_key().decode()
    if direction.startswith("from the engine"):
        source = build_app(tmp_path / "source", ENCRYPTION_KEY=key)
        target = app_on(tmp_path / "target", sqlite_url(tmp_path / "target"), key)
    else:
        source = app_on(tmp_path / "source", sqlite_url(tmp_path / "source"), key)
        source.test_cli_runner().invoke(args=["init-db"])
        target = app_on(tmp_path / "target", empty_database_url(tmp_path), key)
    secret = make_source_install(source, smtp)
    export = tmp_path / "acme.jsonl"

    exported = source.test_cli_runner().invoke(args=["export", str(export)])
    assert exported.exit_code == 0, exported.output
    assert "same EXASTRO_MAIL_ENCRYPTION_KEY" in exported.output
    assert stat.S_IMODE(export.stat().st_mode) == 0o600
    assert SMTP_PASSWORD not in export.read_text()

    imported = target.test_cli_runner().invoke(args=["import", str(export)])
    assert imported.exit_code == 0, imported.output
    assert "Imported 1 organization, 1 user, 1 mail_server_settings" in imported.output
    with source.app_context():
        audit_events = [(event.id, event.action) for event in AuditEvent.select().order_by(AuditEvent.id)]
    with target.app_context():
        assert [
            (event.id, event.action) for event in AuditEvent.select().order_by(AuditEvent.id)
        ] == audit_events

    client = target.test_client()
    assert AuthActions(client).login("alice").status_code == 302
    settings = client.get("/acme/platform/settings/mailserver").get_data(as_text=True)
    assert f'value="{smtp.port}"' in settings
    mail_log = client.get("/acme/platform/mail-log").get_data(as_text=True)
    assert "Went out" in mail_log and "Still queued" in mail_log
    assert "api_token.created" in client.get("/acme/platform/audit-log").get_data(as_text=True)
    api = client.get("/api/acme/platform/settings/mailserver", headers={"Authorization": f"Bearer {secret}"})
    assert api.status_code == 200

    # The queued notice leaves from the new install, through the SMTP password sealed on the old one.
    assert deliver_due(target) == 1
    (received,) = smtp.wait_for(1)
    assert received.message["Subject"] == "Still queued" and received.authenticated_user == SMTP_USER
    with target.app_context():
        organization = make_org("beta", "Beta")  # new rows continue after the imported ones
        assert organization.id > Organization.get(Organization.org_id == "acme").id


def test_import_with_another_encryption_key_is_refused_and_writes_nothing(tmp_path, smtp):
    source = build_app(tmp_path / "source")
    make_source_install(source, smtp)
    export = tmp_path / "acme.jsonl"
    assert source.test_cli_runner().invoke(args=["export", str(export)]).exit_code == 0
    target = app_on(tmp_path / "target", sqlite_url(tmp_path / "target"), Fernet.generate_key().decode())

    result = target.test_cli_runner().invoke(args=["import", str(export)])
    assert result.exit_code == 1
    assert "EXASTRO_MAIL_ENCRYPTION_KEY cannot open the SMTP password" in result.output
    assert "Nothing was imported" in result.output
    with target.app_context():
        assert Organization.select().count() == 0


def test_import_into_a_database_with_data_is_refused(tmp_path, smtp):
    source = build_app(tmp_path / "source")
    make_source_install(source, smtp)
    export = tmp_path / "acme.jsonl"
    assert source.test_cli_runner().invoke(args=["export", str(export)]).exit_code == 0

    result = source.test_cli_runner().invoke(args=["import", str(export)])
    assert result.exit_code == 1
    assert "already holds 1 organization(s); import needs an empty one" in result.output


def test_a_cut_off_export_is_refused_and_writes_nothing(tmp_path, smtp):
    source = build_app(tmp_path / "source")
    make_source_install(source, smtp)
    export = tmp_path / "acme.jsonl"
    assert source.test_cli_runner().invoke(args=["export", str(export)]).exit_code == 0
    export.write_text("".join(export.read_text().splitlines(keepends=True)[:-3]))
    target = app_on(tmp_path / "target", sqlite_url(tmp_path / "target"), source.config["ENCRYPTION_KEY"])

    result = target.test_cli_runner().invoke(args=["import", str(export)])
    assert result.exit_code == 1
    assert "the export was cut off" in result.output
    with target.app_context():
        assert Organization.select().count() == 0


def test_backup_copies_a_running_sqlite_install(tmp_path):
    app = app_on(tmp_path, sqlite_url(tmp_path), Fernet.generate_key().decode())
    app.test_cli_runner().invoke(args=["init-db"])
    with app.app_context():
        organization = make_org()
        make_user(organization, "alice", admin=True)
    stop, writing = threading.Event(), threading.Event()

    def keep_writing():
        with app.app_context():
            try:
                while not stop.wait(0.001):
                    record(organization, "busy.writing")
                    writing.set()
            finally:
                db.close()

    writer = threading.Thread(target=keep_writing)
    writer.start()
    try:
        assert writing.wait(10)
        result = app.test_cli_runner().invoke(args=["backup", str(tmp_path / "backup.sqlite3")])
    finally:
        stop.set()
        writer.join(10)
    assert result.exit_code == 0, result.output
    backup = tmp_path / "backup.sqlite3"
    assert stat.S_IMODE(backup.stat().st_mode) == 0o600
    with contextlib.closing(sqlite3.connect(backup)) as copy:
        assert copy.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    copy_app = app_on(tmp_path / "restored", f"sqlite:///{backup}", app.config["ENCRYPTION_KEY"])
    assert AuthActions(copy_app.test_client()).login("alice").status_code == 302
    with copy_app.app_context():
        copied = AuditEvent.select().where(AuditEvent.action == "busy.writing").count()
    with app.app_context():
        assert 0 < copied <= AuditEvent.select().where(AuditEvent.action == "busy.writing").count()


@pytest.mark.parametrize(
    ("url", "tool"),
    [("postgresql://127.0.0.1/exastro_mail", "pg_dump"), ("mysql://127.0.0.1/exastro_mail", "mariadb-dump")],
)
def test_backup_of_a_server_database_points_to_its_own_tool(tmp_path, url, tool):
    app = app_on(tmp_path, url, Fernet.generate_key().decode())
    result = app.test_cli_runner().invoke(args=["backup", str(tmp_path / "backup")])
    assert result.exit_code == 1
    assert tool in result.output and "exastro-mail export" in result.output
    assert not (tmp_path / "backup").exists()
