"""`exastro-mail init-db` upgrades a database made by the first release in place, keeping its data;
several instances may run it at once; a database newer than the code is refused."""

import os
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from peewee import Table

from exastro_mail import create_app
from exastro_mail.api_tokens.tokens import token_hash as api_token_hash
from exastro_mail.auth.accounts import create_user
from exastro_mail.auth.passwords import hash_password
from exastro_mail.outbox.worker import deliver_due
from exastro_mail.store import migrations
from exastro_mail.store.db import close_all, engine, open_database
from exastro_mail.store.models import ALL_MODELS, Organization, OutboxMessage, utcnow
from tests.conftest import DEFAULT_PASSWORD, LOOPBACK_ALLOWED, AuthActions, build_app
from tests.engine_fixtures import app_built, empty_database_url

DATA = Path(__file__).parent / "data"
EXASTRO_MAIL = str(Path(sys.executable).parent / "exastro-mail")
API_TOKEN = "exm_" + "v" * 43
SENT_ID = "<sent-in-version-1@example.com>"
QUEUED_ID = "<queued-in-version-1@example.com>"


def schema_v1_statements(kind: str) -> list[str]:
    """The first release's CREATE statements for an engine (tests/data/schema_v1_<engine>.sql)."""
    text = (DATA / f"schema_v1_{kind}.sql").read_text()
    lines = [line for line in text.splitlines() if not line.startswith("--")]
    return [statement.strip() for statement in "\n".join(lines).split(";\n") if statement.strip()]


def make_version_1_install(url: str, smtp_server, key: str) -> None:
    """Create the version 1 schema and fill it as the first release would have: an organization, its
    admin, settings with a sealed SMTP password, a sent and a queued mail, an audit event, an API token."""
    database = open_database(url)
    kind = engine(database)
    try:
        for statement in schema_v1_statements(kind):
            database.execute_sql(statement.rstrip(";"))

        def table(name, *columns):
            return Table(name, ("id", *columns), primary_key="id").bind(database)

        earlier = utcnow() - timedelta(days=30)
        organization = table("organization", "org_id", "name", "created_at")
        org = organization.insert(org_id="acme", name="ACME Corp", created_at=earlier).execute()
        users = table(
            "user", "organization_id", "username", "email", "password_hash", "is_admin", "is_enabled",
            "locale", "password_changed_at", "created_at",
        )  # fmt: skip
        admin = users.insert(
            organization_id=org, username="alice", email="alice@example.com",
            password_hash=hash_password(DEFAULT_PASSWORD), is_admin=True, is_enabled=True, locale=None,
            password_changed_at=earlier, created_at=earlier,
        ).execute()  # fmt: skip
        table(
            "mail_server_settings", "organization_id", "smtp_host", "smtp_port", "encryption",
            "authentication_enable", "authentication_user", "authentication_password_sealed", "send_from",
            "test_status", "created_at", "updated_at",
        ).insert(
            organization_id=org, smtp_host=smtp_server.host, smtp_port=smtp_server.port, encryption="none",
            authentication_enable=True, authentication_user="mailer",
            authentication_password_sealed=Fernet(key).encrypt(b"s3cret-SMTP-pass").decode(),
            send_from="noreply@example.com", test_status="untested", created_at=earlier, updated_at=earlier,
        ).execute()  # fmt: skip
        outbox = table(
            "outbox_message", "organization_id", "kind", "recipients", "subject", "body_text", "message_id",
            "status", "attempts", "next_attempt_at", "created_at", "sent_at",
        )  # fmt: skip
        for message_id, subject, state in (
            (SENT_ID, "Sent long ago", "sent"),
            (QUEUED_ID, "Still queued", "queued"),
        ):
            outbox.insert(
                organization_id=org, kind="notification", recipients='{"to": ["ops@example.com"]}',
                subject=subject, body_text=f"{subject}.", message_id=message_id, status=state,
                attempts=1 if state == "sent" else 0, next_attempt_at=earlier, created_at=earlier,
                sent_at=earlier if state == "sent" else None,
            ).execute()  # fmt: skip
        table("audit_event", "organization_id", "actor", "action", "detail", "created_at").insert(
            organization_id=org,
            actor="alice",
            action="mail_server_settings.saved",
            detail="{}",
            created_at=earlier,
        ).execute()
        table("api_token", "organization_id", "user_id", "name", "token_hash", "created_at").insert(
            organization_id=org, user_id=admin, name="monitoring", token_hash=api_token_hash(API_TOKEN),
            created_at=earlier,
        ).execute()  # fmt: skip
    finally:
        close_all(database)


@pytest.fixture
def version_1_install(tmp_path, smtp_server_factory):
    """An app on a database made and filled by the first release (schema version 1), not migrated yet."""
    smtp_server = smtp_server_factory(auth={"mailer": "s3cret-SMTP-pass"}, auth_require_tls=False)
    key = Fernet.generate_key().decode()
    url = empty_database_url(tmp_path)
    make_version_1_install(url, smtp_server, key)
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
    app.smtp_server = smtp_server
    return app


def schema_of(url: str) -> dict:
    """Each table's columns and indexes (by their columns) as the database reports them."""
    database = open_database(url)
    try:
        return {
            model._meta.table_name: (
                {column.name for column in database.get_columns(model._meta.table_name)},
                {
                    (tuple(index.columns), index.unique)
                    for index in database.get_indexes(model._meta.table_name)
                },
            )
            for model in ALL_MODELS
        }
    finally:
        close_all(database)


def test_a_migrated_database_has_the_schema_of_a_new_one(version_1_install, tmp_path):
    app = version_1_install
    assert app.test_cli_runner().invoke(args=["init-db"]).exit_code == 0
    (tmp_path / "fresh").mkdir()
    new = create_app(
        {"INSTANCE_PATH": str(tmp_path / "fresh"), "DATABASE_URL": empty_database_url(tmp_path / "fresh")}
    )
    app_built(new)
    with new.app_context():
        migrations.migrate()
    assert new.config["DATABASE_URL"] != app.config["DATABASE_URL"]
    upgraded, made_new = schema_of(app.config["DATABASE_URL"]), schema_of(new.config["DATABASE_URL"])
    assert (("user_id", "created_at"), False) in made_new["reset_token"][1]
    assert (("status", "priority", "next_attempt_at"), False) in made_new["outbox_message"][1]  # step 11
    # Step 10: the log pages seek on these (logs/paging.py).
    assert (("organization_id", "status", "created_at", "id"), False) in upgraded["outbox_message"][1]
    assert (("organization_id", "actor", "created_at", "id"), False) in upgraded["audit_event"][1]
    assert upgraded == made_new


def test_init_db_upgrades_a_first_release_database_in_place(version_1_install):
    app = version_1_install
    with app.app_context():
        assert migrations.current_version() == 1

    result = app.test_cli_runner().invoke(args=["init-db"])
    assert result.exit_code == 0, result.output
    assert f"Migrated the database schema from version 1 to {migrations.LATEST}." in result.output
    again = app.test_cli_runner().invoke(args=["init-db"])
    assert f"up to date (version {migrations.LATEST})" in again.output

    client = app.test_client()
    # The password hash came through, and (step 9) an existing account is not asked to change it.
    assert AuthActions(client).login("alice").status_code == 302
    assert client.get("/acme/platform/account").status_code == 200
    settings = client.get("/acme/platform/settings/mailserver").get_data(as_text=True)
    assert app.smtp_server.host in settings and "noreply@example.com" in settings
    assert "Sent long ago" in client.get("/acme/platform/mail-log").get_data(as_text=True)
    api = client.get(
        "/api/acme/platform/settings/mailserver", headers={"Authorization": f"Bearer {API_TOKEN}"}
    )
    assert api.status_code == 200 and api.get_json()["data"]["authentication_password_set"] is True

    # The mail queued before the upgrade goes out, through the SMTP password sealed back then.
    assert deliver_due(app) == 1
    (received,) = app.smtp_server.wait_for(1)
    assert received.message["Message-ID"] == QUEUED_ID and received.authenticated_user == "mailer"
    # A forgot-password request made after the upgrade is resolved and mailed (schema steps 3 and 4).
    assert client.post("/acme/forgot-password", data={"identifier": "alice"}).status_code == 200
    assert deliver_due(app) == 1
    reset_mail = app.smtp_server.wait_for(2)[1].message
    assert "/acme/reset-password/" in reset_mail.get_body(("plain",)).get_content()

    with app.app_context():
        # Version 2 on MariaDB: text compares exactly and times keep their microseconds, as elsewhere.
        create_user(
            Organization.get(Organization.org_id == "acme"),
            "Alice",
            "big.alice@example.com",
            DEFAULT_PASSWORD,
        )
        due = datetime(2031, 5, 6, 7, 8, 9, 123456)
        OutboxMessage.update(next_attempt_at=due).where(OutboxMessage.message_id == SENT_ID).execute()
        assert OutboxMessage.get(OutboxMessage.message_id == SENT_ID).next_attempt_at == due


def test_instances_starting_together_create_the_schema_once(tmp_path):
    url = empty_database_url(tmp_path)
    env = {
        **os.environ,
        "EXASTRO_MAIL_DATABASE_URL": url,
        "EXASTRO_MAIL_INSTANCE_PATH": str(tmp_path / "instance"),
    }
    starts = [
        subprocess.Popen(
            [EXASTRO_MAIL, "init-db"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        for _ in range(3)
    ]
    outputs = [start.communicate(timeout=60)[0] for start in starts]
    assert [start.returncode for start in starts] == [0, 0, 0], outputs
    assert sum("Created the database schema" in output for output in outputs) == 1, outputs
    assert sum(f"up to date (version {migrations.LATEST})" in output for output in outputs) == 2, outputs
    database = open_database(url)
    try:
        assert database.execute_sql("SELECT COUNT(*) FROM schema_version").fetchone()[0] == 1
    finally:
        close_all(database)


class HeldMigrationLock:
    """The migration lock of a database, taken on a connection of its own as another instance's
    `exastro-mail init-db` takes it; released by release() (from any thread) or at the end of the block."""

    def __init__(self, url: str):
        self.database = open_database(url, 30)
        self.kind = engine(self.database)
        self.connection = None
        self.released = threading.Lock()

    def _run(self, statement: str, params=()):
        cursor = self.connection.cursor()  # this connection, whichever thread releases it
        cursor.execute(statement, params)
        return cursor.fetchone()

    def __enter__(self):
        self.database.connect()
        self.connection = self.database.connection()
        if self.kind == "mysql":
            assert self._run(f"SELECT GET_LOCK({migrations.MYSQL_LOCK_NAME}, 0)")[0] == 1
        elif self.kind == "postgresql":
            self.connection.autocommit = False
            self._run("SELECT pg_advisory_xact_lock(%s)", (migrations.LOCK_KEY,))
        else:  # SQLite: the IMMEDIATE transaction is the lock
            self._run("BEGIN IMMEDIATE")
        return self

    def release(self):
        if not self.released.acquire(blocking=False):
            return
        if self.kind == "mysql":
            self._run(f"SELECT RELEASE_LOCK({migrations.MYSQL_LOCK_NAME})")
        else:
            self.connection.commit()

    def __exit__(self, *_exc):
        self.release()
        close_all(self.database)


def test_an_instance_waits_for_a_migration_longer_than_the_database_timeout(tmp_path):
    # Every statement gives up after EXASTRO_MAIL_DATABASE_TIMEOUT; another instance's migration may
    # well take longer. The wait is for the lock, not one statement (it once gave up at the timeout,
    # saying the lock had been held for 300 s).
    app = build_app(tmp_path, DATABASE_TIMEOUT=1)
    held_seconds = 2.5  # more than the timeout (SQLite waits its busy timeout, 10 s)
    with HeldMigrationLock(app.config["DATABASE_URL"]) as lock:
        threading.Timer(held_seconds, lock.release).start()
        started = time.monotonic()
        with app.app_context():
            assert migrations.migrate() == (migrations.LATEST, migrations.LATEST)
        waited = time.monotonic() - started
    assert held_seconds - 0.1 < waited < held_seconds + 3


@pytest.mark.only_on("postgres", "mariadb")  # a SQLite file is its own database
def test_the_lock_is_per_database_so_other_installs_on_the_server_do_not_wait(tmp_path, monkeypatch):
    held = build_app(tmp_path / "held")
    monkeypatch.setattr(migrations, "LOCK_WAIT_SECONDS", 20)  # a shared lock: MigrationError after 20 s
    with HeldMigrationLock(held.config["DATABASE_URL"]):
        other = build_app(tmp_path / "other")  # migrates a database of its own on the same server
    with other.app_context():
        assert migrations.current_version() == migrations.LATEST


@pytest.mark.only_on("postgres", "mariadb")  # SQLite gives up after its busy timeout (10 s), locked
def test_a_lock_held_past_the_wait_is_reported_with_how_long(tmp_path, monkeypatch):
    app = build_app(tmp_path, DATABASE_TIMEOUT=1)
    monkeypatch.setattr(migrations, "LOCK_WAIT_SECONDS", 1.5)
    held = HeldMigrationLock(app.config["DATABASE_URL"])
    refused = pytest.raises(migrations.MigrationError, match="held the migration lock for 1.5 s")
    with held, app.app_context(), refused:
        migrations.migrate()


def test_a_database_from_a_newer_release_is_refused(app):
    migrations.SchemaVersion.update(version=migrations.LATEST + 1).execute()
    result = app.test_cli_runner().invoke(args=["init-db"])
    assert result.exit_code == 1
    assert f"schema version {migrations.LATEST + 1}, newer than this exastro-mail knows" in result.output


def test_settings_saved_before_step_8_answer_no_one_until_they_change(version_1_install):
    app = version_1_install
    assert app.test_cli_runner().invoke(args=["init-db"]).exit_code == 0
    client = app.test_client()
    headers = {"Authorization": f"Bearer {API_TOKEN}"}
    data = client.get("/api/acme/platform/settings/mailserver", headers=headers).get_json()["data"]
    assert (data["create_user"], data["last_update_user"]) == ("", "")
    assert data["create_timestamp"] == data["last_update_timestamp"]  # both of the first release's row

    changed = {**data, "send_name": "Renamed after the upgrade"}
    response = client.post("/api/acme/platform/settings/mailserver", json=changed, headers=headers)
    assert response.status_code == 200, response.get_json()
    data = client.get("/api/acme/platform/settings/mailserver", headers=headers).get_json()["data"]
    assert (data["create_user"], data["last_update_user"]) == ("", "alice (API token monitoring)")


@pytest.mark.only_on("postgres")  # a row's xmin names the transaction that last wrote it
def test_step_11_adds_the_priority_without_writing_every_mail_again(version_1_install, monkeypatch):
    # peewee's add_column wrote every row of outbox_message again (NULL, then the default, then NOT
    # NULL): on a million-row database a rewrite, and as many dead copies kept until VACUUM FULL.
    app = version_1_install
    with app.app_context():
        monkeypatch.setattr(migrations, "STEPS", [step for step in migrations.STEPS if step[0] < 11])
        migrations.migrate()
        written = "SELECT message_id, xmin::text FROM outbox_message ORDER BY id"
        before = migrations.db.execute_sql(written).fetchall()
        monkeypatch.undo()
        assert migrations.migrate()[0] == 10
        assert migrations.db.execute_sql(written).fetchall() == before
        assert [row.message_id for row in OutboxMessage.select().where(OutboxMessage.priority == 0)] == [
            SENT_ID,
            QUEUED_ID,
        ]
