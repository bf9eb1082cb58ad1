"""Password hashing, with the same work done whether or not the account exists."""

import functools

from flask import current_app, has_app_context
from flask_babel import gettext as _
from werkzeug.security import check_password_hash, generate_password_hash

MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 255
DEFAULT_HASH_METHOD = "scrypt"
# Outside an app context (a worker thread, code run beside the app) the method of the app built last,
# as the database is that app's (store/db.py): one app per process in production.
_method_outside_an_app = DEFAULT_HASH_METHOD


def init_app(app) -> None:
    global _method_outside_an_app
    _method_outside_an_app = app.config["PASSWORD_HASH_METHOD"]


def _method() -> str:
    # EXASTRO_MAIL_PASSWORD_HASH_METHOD: scrypt in production; a test suite may choose a cheap one.
    return current_app.config["PASSWORD_HASH_METHOD"] if has_app_context() else _method_outside_an_app


@functools.cache
def _dummy_hash(method: str) -> str:
    # Made on first use, not at import: an scrypt hash costs every process (CLI, worker) ~135 ms.
    return generate_password_hash("timing equaliser, matches nothing", method=method)


def hash_password(password: str) -> str:
    """A salted hash of the password (scrypt unless PASSWORD_HASH_METHOD says otherwise)."""
    return generate_password_hash(password, method=_method())


def verify_password(password_hash: str | None, password: str) -> bool:
    """Check a password; with no hash, spend the same time and say no."""
    if password_hash is None:
        check_password_hash(_dummy_hash(_method()), password)
        return False
    return check_password_hash(password_hash, password)


def password_policy_problem(password: str, username: str) -> str | None:
    """Why a new password is not acceptable, or None."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return _("Use at least %(min)d characters.", min=MIN_PASSWORD_LENGTH)
    if len(password) > MAX_PASSWORD_LENGTH:
        return _("Use at most %(max)d characters.", max=MAX_PASSWORD_LENGTH)
    if password.strip().casefold() == username.strip().casefold():
        return _("The password must not be your username.")
    return None
