"""The private names of libraries we still rely on, each in one place, each guarded by a test in
tests/test_library_internals.py that fails when the library changes it.

Each is kept because it pays on a measured hot path (docs/architecture.md lists them with their cost):
- Flask's app context variable: the database proxy reads it dozens of times a request.
- Flask-Login's session key: anonymous pages learn there is no login without loading a user.
- Flask-WTF's per-request token in g: the page cache renders a page once for everyone with a
  placeholder in place of the CSRF token.
"""

from flask import current_app, g
from flask.globals import _cv_app

# Where Flask-Login keeps the logged-in user's id in the session (flask_login.login_user).
FLASK_LOGIN_USER_ID_KEY = "_user_id"


def app_in_context():
    """The Flask app of the current app context, or None, without going through current_app's proxy."""
    context = _cv_app.get(None)
    return context.app if context is not None else None


def set_request_csrf_token(value: str | None) -> None:
    """Make Flask-WTF's generate_csrf() (and so every form's hidden field) answer `value` for the rest
    of this request; None forgets it, so the next call signs a token of its own again."""
    name = current_app.config.get("WTF_CSRF_FIELD_NAME", "csrf_token")
    if value is None:
        g.pop(name, None)
    else:
        setattr(g, name, value)
