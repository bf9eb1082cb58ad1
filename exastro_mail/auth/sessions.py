"""Server-side login sessions: the cookie carries a random token, the database its hash."""

import secrets
from datetime import datetime, timedelta

from flask import current_app, g, session
from flask.sessions import SecureCookieSessionInterface
from flask_login import UserMixin, current_user, login_user, logout_user

from ..extensions import login_manager
from ..store.hashed_tokens import token_hash
from ..store.models import LoginSession, User, utcnow
from ..web.login_state import has_login


class SessionUser(UserMixin):
    """The logged-in user as Flask-Login sees it: a User plus the token of this login."""

    def __init__(self, user: User, token: str):
        self.user = user
        self.token = token

    def get_id(self) -> str:
        return self.token

    def __getattr__(self, name):
        return getattr(self.user, name)


# last_seen_at is written at most this often: the idle timeout is kept to within a minute.
LAST_SEEN_RESOLUTION = timedelta(seconds=60)


@login_manager.user_loader
def _load(token: str):
    row = (
        LoginSession.select(LoginSession, User)
        .join(User)
        .where(LoginSession.token_hash == token_hash(token), User.is_enabled == True)  # noqa: E712
        .first()
    )
    if row is None:
        return None
    now = utcnow()
    config = current_app.config
    if session_expired(row, now, config["SESSION_IDLE_TIMEOUT"], config["SESSION_MAX_AGE"]):
        LoginSession.delete().where(LoginSession.id == row.id).execute()
        return None
    if now - row.last_seen_at >= LAST_SEEN_RESOLUTION:
        LoginSession.update(last_seen_at=now).where(LoginSession.id == row.id).execute()
    return SessionUser(row.user, token)


def session_expired(row: LoginSession, now: datetime, idle_timeout: int, max_age: int) -> bool:
    """Whether a login has been idle for idle_timeout seconds, or has lasted max_age seconds."""
    idle = now - row.last_seen_at >= timedelta(seconds=idle_timeout)
    return idle or now - row.created_at >= timedelta(seconds=max_age)


def start_session(user: User) -> None:
    """Log a user in with a fresh server-side session and a fresh CSRF token."""
    token = secrets.token_urlsafe(32)
    LoginSession.create(user=user, token_hash=token_hash(token))
    # A CSRF token seen before the login (a shared computer, a planted cookie) is not carried over.
    csrf_key = current_app.config["WTF_CSRF_FIELD_NAME"]
    session.pop(csrf_key, None)
    g.pop(csrf_key, None)
    login_user(SessionUser(user, token))


def end_session(session_user: SessionUser) -> None:
    """Log out this login only; its cookie stops working everywhere."""
    LoginSession.delete().where(LoginSession.token_hash == token_hash(session_user.token)).execute()
    logout_user()


def end_all_sessions(user: User) -> int:
    """End every login of a user (after a password change)."""
    return LoginSession.delete().where(LoginSession.user == user).execute()


SERIALIZER_KEY = "exastro_mail.session_serializer"


class SignedCookieSessions(SecureCookieSessionInterface):
    """Flask's signed session cookie, with its serializer made once per secret key rather than twice
    per request (Flask builds one to read the cookie and another to write it)."""

    def get_signing_serializer(self, app):
        keys = (app.secret_key, tuple(app.config["SECRET_KEY_FALLBACKS"] or ()))
        made = app.extensions.get(SERIALIZER_KEY)
        if made is None or made[0] != keys:
            made = (keys, super().get_signing_serializer(app))
            app.extensions[SERIALIZER_KEY] = made
        return made[1]


def init_app(app) -> None:
    """Sign session cookies with SignedCookieSessions; look the login up afresh on every request."""
    app.session_interface = SignedCookieSessions()
    # Templates get current_user as Flask-Login's lazy proxy (its own context processor loads the user
    # for every page) and ask has_login() first: for an anonymous visitor, loading the user runs
    # Flask-Login's session protection, which writes into the session, and so a new cookie, each time.
    app.jinja_env.globals.update(current_user=current_user, has_login=has_login)
