"""What the account page changes, as plain functions of the organization and the account."""

from flask import current_app

from ..auth.initial_password import retire_initial_password
from ..auth.passwords import hash_password
from ..auth.sessions import start_session
from ..password_reset.flow import store_password
from ..password_reset.mails import changed_mail
from ..store import audit
from ..store.db import db
from ..store.models import User, utcnow


def change_password(organization, user: User, new_password: str) -> User:
    """Set the account's own password (the caller has checked the current one and the rules): every
    login of the account ends, this browser gets a fresh one, a forced change is lifted, the notice is
    mailed while the organization has mail settings. Returns the account as it is now."""
    now = utcnow()
    password_hash = hash_password(new_password)  # the slow hash runs before taking the write lock
    has_mail_settings = getattr(organization, "mail_from", None) is not None
    notice = changed_mail(organization, user, now, via="account") if has_mail_settings else None
    with db.atomic():
        store_password(organization, user, password_hash, now, notice=notice)
        audit.record(organization, "account.password_changed", actor=user.username)
        changed = User.get_by_id(user.id)
        start_session(changed)
    retire_initial_password(current_app.instance_path, user.password_hash)
    return changed


def save_preferences(user: User, locale: str, time_zone: str | None) -> None:
    """Remember the account's language (for pages and its mail) and time zone (None: the browser's)."""
    User.update(locale=locale, time_zone=time_zone or None).where(User.id == user.id).execute()
