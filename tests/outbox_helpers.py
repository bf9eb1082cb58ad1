"""Helpers for the reset and outbox tests: settings pointing at a test SMTP server, one worker pass in
this process, and the reset link of a mail that arrived."""

import re

from exastro_mail.mailserver.store import save_settings
from exastro_mail.outbox.worker import deliver_due
from exastro_mail.store.db import SQLITE, engine
from exastro_mail.store.models import ALL_MODELS

MODE_ENCRYPTION = {"plain": "none", "starttls": "starttls", "implicit": "ssl"}
SMTP_USER, SMTP_PASSWORD = "mailer", "s3cret-SMTP-pass"
LINK = re.compile(r"http://mail\.example\.test/(?P<org>[a-z0-9_-]+)/reset-password/(?P<token>[A-Za-z0-9_-]+)")


def point_settings_at(app, organization, server, **overrides):
    """Register the organization's mail sending server settings for a test server (or None and host, port)."""
    values = {
        "smtp_host": getattr(server, "host", None),
        "smtp_port": getattr(server, "port", None),
        "encryption": MODE_ENCRYPTION.get(getattr(server, "mode", "plain"), "none"),
        "authentication_enable": bool(getattr(server, "auth", None)),
        "authentication_user": SMTP_USER if getattr(server, "auth", None) else None,
        "authentication_password": SMTP_PASSWORD if getattr(server, "auth", None) else None,
        "send_from": "noreply@example.com",
        "send_name": "ACME notifications",
        "reply_to": "support@example.com",
        "reply_name": "ACME support",
        "envelope_from": "bounces@example.com",
    }
    values.update(overrides)
    with app.app_context():
        settings, _, _ = save_settings(organization, values, actor="admin")
    return settings


def deliver(app) -> int:
    """One pass of the outbox worker, in this process."""
    return deliver_due(app)


def everything_stored(app, tmp_path) -> bytes:
    """What the database holds: on SQLite the bytes of its files (deleted pages included), on a server
    engine every row of every table."""
    files = sorted((tmp_path / "instance").glob("exastro-mail.sqlite3*"))
    if files:
        return b"".join(path.read_bytes() for path in files)
    with app.app_context():
        assert engine() != SQLITE, "the SQLite files are not where the test expects them"
        rows = [list(model.select().tuples()) for model in ALL_MODELS]
    return repr(rows).encode()


def link_in(received) -> re.Match:
    """The reset link of a received mail's text part."""
    text = received.message.get_body(("plain",)).get_content()
    match = LINK.search(text)
    assert match, text
    return match
