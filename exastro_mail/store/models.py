"""The store: every table of the product, bound to the app's database through the proxy."""

from datetime import UTC, datetime

from peewee import (
    BooleanField,
    CharField,
    DateTimeField,
    ForeignKeyField,
    IntegerField,
    Model,
    TextField,
)

from .db import db


def utcnow() -> datetime:
    """Now, in UTC, without tzinfo (as every engine stores it)."""
    return datetime.now(UTC).replace(tzinfo=None)


class BaseModel(Model):
    class Meta:
        database = db
        legacy_table_names = False


class Organization(BaseModel):
    org_id = CharField(max_length=36, unique=True)
    name = CharField(max_length=255)
    created_at = DateTimeField(default=utcnow)


class User(BaseModel):
    organization = ForeignKeyField(Organization, backref="users", on_delete="CASCADE")
    username = CharField(max_length=255)
    email = CharField(max_length=255)
    password_hash = CharField(max_length=255)
    is_admin = BooleanField(default=False)
    is_enabled = BooleanField(default=True)
    locale = CharField(max_length=16, null=True)
    # An IANA name (Asia/Tokyo) the account chose; None: the browser's.
    time_zone = CharField(max_length=64, null=True)
    # Set on the administrator quickstart made with a generated password: the first login asks for a new one.
    must_change_password = BooleanField(default=False)
    password_changed_at = DateTimeField(default=utcnow)
    created_at = DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("organization", "username"), True),)


class LoginSession(BaseModel):
    """A server-side record of one login; the cookie holds a token whose hash is kept here."""

    user = ForeignKeyField(User, backref="login_sessions", on_delete="CASCADE")
    token_hash = CharField(max_length=64, unique=True)
    created_at = DateTimeField(default=utcnow)
    # Written at most once a minute (auth/sessions.py), for the idle timeout.
    last_seen_at = DateTimeField(default=utcnow)


class MailServerSettings(BaseModel):
    organization = ForeignKeyField(
        Organization, backref="mail_server_settings", unique=True, on_delete="CASCADE"
    )
    transport = CharField(max_length=16, default="smtp")  # smtp | microsoft_graph
    # Empty with Microsoft Graph, which needs no SMTP server.
    smtp_host = CharField(max_length=253, null=True)
    smtp_port = IntegerField(null=True)
    encryption = CharField(max_length=16, null=True)  # none | ssl | starttls
    graph_url = CharField(max_length=255, null=True)
    authentication_enable = BooleanField(default=False)
    # password | oauth2_client_credentials | oauth2_service_account; empty without authentication
    authentication_method = CharField(max_length=32, null=True)
    authentication_user = CharField(max_length=255, null=True)
    authentication_password_sealed = TextField(null=True)
    oauth2_token_url = CharField(max_length=1024, null=True)
    oauth2_client_id = CharField(max_length=255, null=True)
    oauth2_client_secret_sealed = TextField(null=True)
    oauth2_scope = CharField(max_length=1024, null=True)
    oauth2_service_account_key_sealed = TextField(null=True)
    oauth2_service_account_email = CharField(max_length=255, null=True)  # the stored key's client_email
    send_from = CharField(max_length=255)
    send_name = CharField(max_length=100, null=True)
    reply_to = CharField(max_length=255, null=True)
    reply_name = CharField(max_length=100, null=True)
    envelope_from = CharField(max_length=255, null=True)
    trusted_ca_pem = TextField(null=True)
    test_status = CharField(max_length=16, default="untested")  # untested | accepted | failed
    test_at = DateTimeField(null=True)
    test_detail = TextField(null=True)
    created_at = DateTimeField(default=utcnow)
    updated_at = DateTimeField(default=utcnow)
    # Who registered and who last changed them (Exastro's create_user, last_update_user): a username,
    # or for an API call with a token "username (API token name)", as the audit trail names them.
    # Empty for settings saved before schema step 8.
    created_by = CharField(max_length=255, null=True)
    updated_by = CharField(max_length=255, null=True)


class ResetToken(BaseModel):
    user = ForeignKeyField(User, backref="reset_tokens", on_delete="CASCADE")
    token_hash = CharField(max_length=64, unique=True)
    email = CharField(max_length=255)  # the address it was sent to: a later change voids it
    created_at = DateTimeField(default=utcnow)
    expires_at = DateTimeField()
    used_at = DateTimeField(null=True)

    class Meta:
        # The per-account limit counts a user's links of the last minutes from this index alone.
        indexes = ((("user", "created_at"), False),)


class OutboxMessage(BaseModel):
    organization = ForeignKeyField(Organization, backref="outbox", on_delete="CASCADE")
    kind = CharField(max_length=32)  # the name of a registered mail kind (outbox/kinds.py)
    recipients = TextField()  # JSON: {"to": [...], "cc": [...], "bcc": [...]}
    subject = CharField(max_length=255)
    body_text = TextField(null=True)
    body_html = TextField(null=True)
    message_id = CharField(max_length=255, unique=True)
    status = CharField(max_length=16, default="queued", index=True)
    attempts = IntegerField(default=0)
    next_attempt_at = DateTimeField(default=utcnow)  # indexed with status and priority, for the claim
    lease_until = DateTimeField(null=True)
    leased_by = CharField(max_length=64, null=True)
    last_error = TextField(null=True)
    reset_token = ForeignKeyField(ResetToken, null=True, on_delete="SET NULL")
    idempotency_key = CharField(max_length=255, null=True)
    locale = CharField(max_length=16, null=True)
    created_at = DateTimeField(default=utcnow, index=True)
    sent_at = DateTimeField(null=True)
    # A forgot-password request not yet looked at: what was typed, sealed (it may be a mistyped password).
    # The worker resolves it to the matching accounts and their mails, then erases it.
    reset_request = TextField(null=True)
    # JSON, beside recipients: what became of each recipient so far (outbox/recipients.py); null: none
    # tried yet. A recipient the server accepted is never sent the mail again.
    recipient_outcomes = TextField(null=True)
    # Higher first: a reset mail (someone waits at the screen) is claimed ahead of notifications.
    priority = IntegerField(default=0)

    class Meta:
        indexes = (
            (("organization", "idempotency_key"), True),
            # The claim's: due mail of one status and priority, oldest first, read in index order.
            (("status", "priority", "next_attempt_at"), False),
            (("status", "lease_until"), False),  # the claim's, for mail whose worker died
            # The delivery log seeks on these, newest first, all or of one status (logs/paging.py).
            (("organization", "created_at", "id"), False),
            (("organization", "status", "created_at", "id"), False),
        )


class AuditEvent(BaseModel):
    organization = ForeignKeyField(Organization, backref="audit_events", on_delete="CASCADE")
    actor = CharField(max_length=255, null=True)
    action = CharField(max_length=64)
    detail = TextField(null=True)  # JSON, never a secret
    remote_addr = CharField(max_length=64, null=True)
    created_at = DateTimeField(default=utcnow, index=True)

    class Meta:
        # The audit log seeks on these, newest first: all, of one action, or of one actor (logs/paging.py).
        indexes = (
            (("organization", "created_at", "id"), False),
            (("organization", "action", "created_at", "id"), False),
            (("organization", "actor", "created_at", "id"), False),
        )


class ApiToken(BaseModel):
    organization = ForeignKeyField(Organization, backref="api_tokens", on_delete="CASCADE")
    user = ForeignKeyField(User, backref="api_tokens", on_delete="CASCADE")
    name = CharField(max_length=100)
    token_hash = CharField(max_length=64, unique=True)
    created_at = DateTimeField(default=utcnow)
    last_used_at = DateTimeField(null=True)
    revoked_at = DateTimeField(null=True)


class NewTokenShowing(BaseModel):
    """A new API token waiting for its one showing: the page after Create token opens it by a one-time id
    (its hash is kept here) and deletes it, so a reload cannot show the token again nor make another."""

    api_token = ForeignKeyField(ApiToken, on_delete="CASCADE")
    showing_hash = CharField(max_length=64, unique=True)
    token_sealed = TextField()
    expires_at = DateTimeField()


class RateLimitWindow(BaseModel):
    """How often one client did one limited thing in one window (web/rate_limits.py)."""

    bucket = CharField(max_length=255, primary_key=True)  # limit and client (web/rate_limits.py)
    hits = IntegerField()
    ends_at = DateTimeField(index=True)


class MailTestRun(BaseModel):
    """A Send test mail on its way or just done, which the page follows by its public id whichever worker
    answers (mailserver/test_runs.py). It keeps what the page shows, never a secret."""

    public_id = CharField(max_length=32, unique=True)
    organization = ForeignKeyField(Organization, on_delete="CASCADE")
    user = ForeignKeyField(User, on_delete="CASCADE")
    recipient = CharField(max_length=255)
    steps = TextField()  # JSON: the steps done so far, as shown
    outcome = TextField(null=True)  # JSON: what the finished test found; NULL while it runs
    created_at = DateTimeField()
    deadline_at = DateTimeField(index=True)  # not finished by then: its process ended under it
    finished_at = DateTimeField(null=True)


ALL_MODELS = [
    Organization,
    User,
    LoginSession,
    MailServerSettings,
    ResetToken,
    OutboxMessage,
    AuditEvent,
    ApiToken,
    NewTokenShowing,
    RateLimitWindow,
    MailTestRun,
]
