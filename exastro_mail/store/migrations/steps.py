"""The numbered steps, from version 1 (the first release's schema) to today's.

A step names its tables and columns literally: it must keep working on the schema it was written for
after models.py has moved on.
"""

from peewee import CharField, DateTimeField, ForeignKeyField, IntegerField, TextField
from playhouse.migrate import SchemaMigrator
from playhouse.migrate import migrate as run_operations

from ..db import MYSQL, POSTGRESQL, SQLITE, engine
from ..models import BaseModel, utcnow
from .tables import create_tables

# The columns of schema version 1 that step 2 widens on MariaDB: table -> {column: (type, NULL-able)}.
_V1_WIDENED = {
    "organization": {"created_at": ("DATETIME(6)", False)},
    "user": {"password_changed_at": ("DATETIME(6)", False), "created_at": ("DATETIME(6)", False)},
    "login_session": {"created_at": ("DATETIME(6)", False)},
    "mail_server_settings": {
        "authentication_password_sealed": ("LONGTEXT", True),
        "trusted_ca_pem": ("LONGTEXT", True),
        "test_at": ("DATETIME(6)", True),
        "test_detail": ("LONGTEXT", True),
        "created_at": ("DATETIME(6)", False),
        "updated_at": ("DATETIME(6)", False),
    },
    "reset_token": {
        "created_at": ("DATETIME(6)", False),
        "expires_at": ("DATETIME(6)", False),
        "used_at": ("DATETIME(6)", True),
    },
    "outbox_message": {
        "recipients": ("LONGTEXT", False),
        "body_text": ("LONGTEXT", True),
        "body_html": ("LONGTEXT", True),
        "next_attempt_at": ("DATETIME(6)", False),
        "lease_until": ("DATETIME(6)", True),
        "last_error": ("LONGTEXT", True),
        "created_at": ("DATETIME(6)", False),
        "sent_at": ("DATETIME(6)", True),
    },
    "audit_event": {"detail": ("LONGTEXT", True), "created_at": ("DATETIME(6)", False)},
    "api_token": {
        "created_at": ("DATETIME(6)", False),
        "last_used_at": ("DATETIME(6)", True),
        "revoked_at": ("DATETIME(6)", True),
    },
    "schema_version": {},
}


def _mariadb_exact_text_long_texts_and_microseconds(database) -> None:
    """Version 1 on MariaDB took the database's default collation (often case-insensitive: 'Alice'
    matched 'alice'), TEXT (64 KiB: a 1 MiB notification failed) and DATETIME without fractions (lease
    and token times cut to the second)."""
    if engine(database) != MYSQL:
        return
    for table, columns in _V1_WIDENED.items():
        changes = ["CONVERT TO CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"]
        changes += [
            f"MODIFY `{column}` {kind} {'NULL' if nullable else 'NOT NULL'}"
            for column, (kind, nullable) in columns.items()
        ]
        database.execute_sql(f"ALTER TABLE `{table}` {', '.join(changes)}")


def _outbox_reset_requests(database) -> None:
    """Forgot-password requests wait in the outbox as what was typed (sealed); the worker resolves them."""
    migrator = SchemaMigrator.from_database(database)
    run_operations(migrator.add_column("outbox_message", "reset_request", TextField(null=True)))


def _reset_tokens_by_user_and_time(database) -> None:
    """The per-account limit counts a user's recent links: an index on (user_id, created_at)."""
    migrator = SchemaMigrator.from_database(database)
    run_operations(migrator.add_index("reset_token", ("user_id", "created_at"), False))


class _RateLimitWindowAtStep5(BaseModel):
    bucket = CharField(max_length=255, primary_key=True)
    hits = IntegerField()
    ends_at = DateTimeField(index=True)

    class Meta:
        table_name = "rate_limit_window"


def _rate_limits_in_the_database_and_session_last_seen(database) -> None:
    """Rate limits counted in the database, so they hold for every process; when a login was last
    seen, for the idle timeout (existing logins count as seen now)."""
    create_tables([_RateLimitWindowAtStep5])
    migrator = SchemaMigrator.from_database(database)
    run_operations(migrator.add_column("login_session", "last_seen_at", DateTimeField(default=utcnow)))


def _outbox_recipient_outcomes(database) -> None:
    """What became of each recipient of a mail, so a retry goes only to those refused for now."""
    migrator = SchemaMigrator.from_database(database)
    run_operations(migrator.add_column("outbox_message", "recipient_outcomes", TextField(null=True)))


def _oauth2_and_microsoft_graph(database) -> None:
    """Mail sent through Microsoft Graph (no SMTP host then), or authenticated with OAuth 2.0."""
    migrator = SchemaMigrator.from_database(database)
    table = "mail_server_settings"
    run_operations(
        migrator.add_column(table, "transport", CharField(max_length=16, default="smtp")),
        migrator.drop_not_null(table, "smtp_host"),
        migrator.drop_not_null(table, "smtp_port"),
        migrator.drop_not_null(table, "encryption"),
        migrator.add_column(table, "graph_url", CharField(max_length=255, null=True)),
        migrator.add_column(table, "authentication_method", CharField(max_length=32, null=True)),
        migrator.add_column(table, "oauth2_token_url", CharField(max_length=1024, null=True)),
        migrator.add_column(table, "oauth2_client_id", CharField(max_length=255, null=True)),
        migrator.add_column(table, "oauth2_client_secret_sealed", TextField(null=True)),
        migrator.add_column(table, "oauth2_scope", CharField(max_length=1024, null=True)),
        migrator.add_column(table, "oauth2_service_account_key_sealed", TextField(null=True)),
        migrator.add_column(table, "oauth2_service_account_email", CharField(max_length=255, null=True)),
    )
    # Settings saved with authentication before there was a choice of method used a password.
    database.execute_sql(
        "UPDATE mail_server_settings SET authentication_method = 'password' WHERE authentication_enable"
    )


def _who_registered_and_changed_mail_server_settings(database) -> None:
    """Who registered the mail server settings and who last changed them, as Exastro answers them."""
    migrator = SchemaMigrator.from_database(database)
    run_operations(
        migrator.add_column("mail_server_settings", "created_by", CharField(max_length=255, null=True)),
        migrator.add_column("mail_server_settings", "updated_by", CharField(max_length=255, null=True)),
    )


class _ApiTokenAtStep9(BaseModel):
    class Meta:
        table_name = "api_token"


class _NewTokenShowingAtStep9(BaseModel):
    api_token = ForeignKeyField(_ApiTokenAtStep9, on_delete="CASCADE")
    showing_hash = CharField(max_length=64, unique=True)
    token_sealed = TextField()
    expires_at = DateTimeField()

    class Meta:
        table_name = "new_token_showing"


def _accounts_look_after_themselves(database) -> None:
    """An account's own time zone; a forced change of the password quickstart generated; a new API token
    shown once through a one-time id (POST, redirect, GET)."""
    migrator = SchemaMigrator.from_database(database)
    run_operations(migrator.add_column("user", "time_zone", CharField(max_length=64, null=True)))
    # Not through the migrator: for a NOT NULL column it rebuilds the table on SQLite, and dropping the
    # old "user" would cascade to every login, reset link and API token.
    boolean = {POSTGRESQL: "BOOLEAN NOT NULL DEFAULT FALSE", MYSQL: "BOOL NOT NULL DEFAULT 0"}
    quoted = "`user`" if engine(database) == MYSQL else '"user"'
    database.execute_sql(
        f"ALTER TABLE {quoted} ADD COLUMN must_change_password "
        f"{boolean.get(engine(database), 'INTEGER NOT NULL DEFAULT 0')}"
    )
    create_tables([_NewTokenShowingAtStep9])


def _outbox_priority_and_claim_index(database) -> None:
    """Reset mails claimed ahead of notifications (a priority), and the claim read through an index on
    (status, priority, next_attempt_at) and, for leases that ran out, (status, lease_until), so its cost
    does not grow with the sent mail kept. The index on
    next_attempt_at alone goes: PostgreSQL chose it for the claim's ORDER BY and read the whole history."""
    # NOT NULL with a default in one ADD COLUMN: PostgreSQL, MariaDB and SQLite then record the value of
    # the existing rows once instead of writing each (peewee's add_column adds it NULL, writes every row
    # and sets NOT NULL: a million-row table rewritten, its dead copies kept). Then no default, as in a
    # new table; SQLite cannot drop one, and keeps it.
    database.execute_sql("ALTER TABLE outbox_message ADD COLUMN priority INTEGER NOT NULL DEFAULT 0")
    if engine(database) != SQLITE:
        database.execute_sql("ALTER TABLE outbox_message ALTER COLUMN priority DROP DEFAULT")
    migrator = SchemaMigrator.from_database(database)
    run_operations(
        migrator.add_index("outbox_message", ("status", "priority", "next_attempt_at"), False),
        migrator.add_index("outbox_message", ("status", "lease_until"), False),
        migrator.drop_index("outbox_message", "outbox_message_next_attempt_at"),
    )
    # Mail queued before the upgrade: a reset still waiting goes first, as a new one would.
    database.execute_sql("UPDATE outbox_message SET priority = 1 WHERE kind = 'password_reset'")


def _log_indexes_and_incremental_vacuum(database) -> None:
    """The delivery and audit logs page by keyset on indexes that end in (created_at, id), one for each
    filter; SQLite files give freed pages back once `exastro-mail prune --vacuum` has run once."""
    migrator = SchemaMigrator.from_database(database)
    run_operations(
        migrator.add_index("outbox_message", ("organization_id", "created_at", "id"), False),
        migrator.add_index("outbox_message", ("organization_id", "status", "created_at", "id"), False),
        migrator.add_index("audit_event", ("organization_id", "created_at", "id"), False),
        migrator.add_index("audit_event", ("organization_id", "action", "created_at", "id"), False),
        migrator.add_index("audit_event", ("organization_id", "actor", "created_at", "id"), False),
    )


class _OrganizationAtStep12(BaseModel):
    class Meta:
        table_name = "organization"


class _UserAtStep12(BaseModel):
    class Meta:
        table_name = "user"


class _MailTestRunAtStep12(BaseModel):
    public_id = CharField(max_length=32, unique=True)
    organization = ForeignKeyField(_OrganizationAtStep12, on_delete="CASCADE")
    user = ForeignKeyField(_UserAtStep12, on_delete="CASCADE")
    recipient = CharField(max_length=255)
    steps = TextField()
    outcome = TextField(null=True)
    created_at = DateTimeField()
    deadline_at = DateTimeField(index=True)
    finished_at = DateTimeField(null=True)

    class Meta:
        table_name = "mail_test_run"


def _test_mails_beside_the_request(database) -> None:
    """Send test mail runs beside the request that started it, its steps kept for the page to follow."""
    create_tables([_MailTestRunAtStep12])


# (number, description, function(database)), in order of number; append only, never renumber.
# Version 1 is the first release's schema, which needs no step.
STEPS: list[tuple[int, str, object]] = [
    (
        2,
        "MariaDB: exact text comparison, long texts and microsecond times",
        _mariadb_exact_text_long_texts_and_microseconds,
    ),
    (3, "Forgot-password requests resolved by the outbox worker", _outbox_reset_requests),
    (4, "Reset links by user and time, for the per-account limit", _reset_tokens_by_user_and_time),
    (
        5,
        "Rate limits counted in the database; when each login was last seen",
        _rate_limits_in_the_database_and_session_last_seen,
    ),
    (6, "What became of each recipient of an outbox mail", _outbox_recipient_outcomes),
    (7, "OAuth 2.0 authentication and Microsoft Graph sending", _oauth2_and_microsoft_graph),
    (
        8,
        "Who registered and who last changed the mail server settings",
        _who_registered_and_changed_mail_server_settings,
    ),
    (
        9,
        "Accounts: own time zone, forced first password change; new API tokens shown once",
        _accounts_look_after_themselves,
    ),
    (10, "Log pages by keyset on indexes matching their filters", _log_indexes_and_incremental_vacuum),
    (11, "Outbox priority (reset mails first) and the claim's index", _outbox_priority_and_claim_index),
    (12, "Send test mail beside the request, its steps kept for the page", _test_mails_beside_the_request),
]
LATEST = max((number for number, _, _ in STEPS), default=1)
