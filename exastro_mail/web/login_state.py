"""Whether someone is logged in, read from the session without loading the user."""

from flask import session

from ..library_internals import FLASK_LOGIN_USER_ID_KEY


def has_login() -> bool:
    """Whether the request's session carries a login, without loading it: anonymous requests (the
    pages end users hit most) skip Flask-Login's user loader. Logins are never remembered by a
    separate cookie, so the session is the only place one can come from."""
    return FLASK_LOGIN_USER_ID_KEY in session
