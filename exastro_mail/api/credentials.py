"""Who is calling the API: HTTP Basic with an org admin's password, or a Bearer API token.

Cookies are never looked at, so a browser session cannot be ridden by a cross-site request.
"""

from dataclasses import dataclass

from flask_babel import gettext as _
from peewee import Case

from ..api_tokens.tokens import find_token, note_use
from ..auth.passwords import MAX_PASSWORD_LENGTH, verify_password
from ..store import audit
from ..store.models import ApiToken, User
from ..web.json_envelope import NOT_ADMIN, NOT_AUTHENTICATED, NOT_FOUND, ApiError

REALM = "exastro-mail"
CHALLENGES = [f'Basic realm="{REALM}", charset="UTF-8"', f'Bearer realm="{REALM}"']


@dataclass(frozen=True)
class Caller:
    """An authenticated administrator, and the token used if any."""

    user: User
    token: ApiToken | None = None

    @property
    def actor(self) -> str:
        """How the audit trail names this caller."""
        if self.token is None:
            return self.user.username
        return f"{self.user.username} (API token {self.token.name})"[:255]


def _unauthenticated(message: str, bearer_error: bool = False) -> ApiError:
    challenges = list(CHALLENGES)
    if bearer_error:
        challenges[1] += ', error="invalid_token"'
    return ApiError(401, NOT_AUTHENTICATED, message, headers={"WWW-Authenticate": challenges})


def _not_found() -> ApiError:
    return ApiError(404, NOT_FOUND, _("This organization does not exist."))


def _admin_only() -> ApiError:
    return ApiError(403, NOT_ADMIN, _("Only an administrator of this organization may use the API."))


def authenticate(organization, authorization) -> Caller:
    """Check the request's Authorization (werkzeug's parsed header, or None) for this organization."""
    if authorization is None:
        raise _unauthenticated(
            _(
                "Authentication required: HTTP Basic with an administrator's username and password, "
                "or Authorization: Bearer with an API token."
            )
        )
    if authorization.type == "basic":
        return _by_password(organization, authorization.username or "", authorization.password or "")
    if authorization.type == "bearer":
        return _by_token(organization, authorization.token or "")
    raise _unauthenticated(_("Use HTTP Basic or Bearer authentication."))


def _by_password(organization, username: str, password: str) -> Caller:
    username = username.strip()
    plausible = 0 < len(username) <= 255 and len(password) <= MAX_PASSWORD_LENGTH
    account = _account_to_check(organization, username) if plausible else None
    # Exactly one password check per attempt, against this account or the dummy hash: a failure costs
    # the same whether the name exists here, elsewhere or nowhere.
    if not verify_password(account.password_hash if account else None, password):
        audit.record(organization, "login_failed", actor=username[:255] or None, via="api")
        raise _unauthenticated(_("The username or password is incorrect."))
    if account.organization_id != organization.id:
        raise _not_found()  # another organization's own credentials: its admin used the wrong URL
    if not account.is_admin:
        raise _admin_only()
    return Caller(account)


def _account_to_check(organization, username: str) -> User | None:
    """The enabled account of this name in this organization, else in another (the oldest)."""
    elsewhere_last = Case(None, ((User.organization == organization.id, 0),), 1)
    return (
        User.select()
        .where(User.username == username, User.is_enabled == True)  # noqa: E712
        .order_by(elsewhere_last, User.id)
        .first()
    )


def _by_token(organization, secret: str) -> Caller:
    token = find_token(secret.strip())
    if token is None or token.revoked_at is not None or not token.user.is_enabled:
        raise _unauthenticated(_("The API token is not valid (unknown or revoked)."), bearer_error=True)
    if token.organization_id != organization.id:
        raise _not_found()
    if not token.user.is_admin:
        raise _admin_only()
    note_use(token)
    return Caller(token.user, token)
