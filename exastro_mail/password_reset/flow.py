"""What the forgot-password and reset pages do, as plain functions of the organization and what was typed."""

from datetime import datetime

from flask import current_app
from flask_babel import lazy_gettext as _l

from ..auth.initial_password import retire_initial_password
from ..auth.passwords import hash_password
from ..auth.sessions import end_all_sessions
from ..outbox.enqueue import enqueue_mail
from ..store import audit
from ..store.db import db
from ..store.models import Organization, ResetToken, User, utcnow
from . import tokens
from .mail_kind import PASSWORD_CHANGED, enqueue_reset_request
from .mails import changed_mail

ANSWER = _l("If an account matches, we have sent a link to its email address.")


class ResetLinkInvalid(Exception):
    """The reset link is unknown, used, expired or void; the page says only that."""


def request_reset(
    organization: Organization, identifier: str, *, send_from: str, locale: str | None = None
) -> None:
    """Queue what was typed for the outbox worker, which looks the accounts up and mails each one.

    No account is read and no SMTP is spoken here: every request makes the same two inserts, so
    neither the answer nor the time it takes tells whether an account matched.
    """
    # transaction(), not atomic(): inside the page's own transaction it adds no savepoint (and no
    # random savepoint name) but is part of it.
    with db.transaction():
        enqueue_reset_request(organization, identifier, send_from=send_from, locale=locale)
        audit.record(organization, "password_reset.requested")


def usable_token(organization, hashed: str, now: datetime | None = None) -> ResetToken | None:
    """The stored token (with its user) for a hash while it still works, else None."""
    row = tokens.find_by_hash(organization, hashed)
    if row is None or tokens.token_problem(row, row.user, now or utcnow()) is not None:
        return None
    return row


def complete_reset(organization, hashed: str, new_password: str, *, now: datetime | None = None) -> User:
    """Set the new password, void the user's links, end all their sessions, queue the notice; single use.

    The caller has checked the password policy. Raises ResetLinkInvalid when the token no longer works.
    """
    now = now or utcnow()
    row = usable_token(organization, hashed, now)
    if row is None:
        raise ResetLinkInvalid
    password_hash = hash_password(new_password)  # the slow hash runs before taking the write lock
    notice = changed_mail(organization, row.user, now)
    with db.atomic():
        used = (
            ResetToken.update(used_at=now)
            .where(ResetToken.id == row.id, ResetToken.used_at.is_null())
            .execute()
        )
        user = User.get_by_id(row.user_id)
        if not used or tokens.token_problem(row, user, now) is not None:
            raise ResetLinkInvalid
        ResetToken.update(used_at=now).where(ResetToken.user == user, ResetToken.used_at.is_null()).execute()
        store_password(organization, user, password_hash, now, notice=notice)
        audit.record(organization, "password_reset.completed", actor=user.username)
    retire_initial_password(current_app.instance_path, row.user.password_hash)
    return user


def store_password(organization, user: User, password_hash: str, now: datetime, *, notice=None) -> None:
    """Set a user's new password (hashed), end every login of theirs, lift a forced change, and queue
    the password-changed notice (subject, text, html) when given. Call it inside db.atomic()."""
    User.update(password_hash=password_hash, password_changed_at=now, must_change_password=False).where(
        User.id == user.id
    ).execute()
    end_all_sessions(user)
    if notice is not None:
        subject, text, html = notice
        enqueue_mail(
            organization,
            PASSWORD_CHANGED.name,
            to=[user.email],
            subject=subject,
            body_text=text,
            body_html=html,
            locale=user.locale,
        )
