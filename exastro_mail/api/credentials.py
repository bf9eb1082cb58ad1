"""Who is calling the API: HTTP Basic with an org admin's password, or a Bearer API token.

Cookies are never looked at, so a browser session cannot be ridden by a cross-site request.
"""

from dataclasses import dataclass

from flask_babel import gettext as _

from ..api_tokens.tokens import find_token, note_use
from ..auth.passwords import MAX_PASSWORD_LENGTH, verify_password
from ..store import audit
from ..store.models import ApiToken, User
from ..web.json_envelope import NOT_ADMIN, NOT_AUTHENTICATED, NOT_FOUND, ApiError

REALM = "exastro-mail"
CHALLENGES = [f'Basic realm="{REALM}", charset="UTF-8"', f'Bearer realm="{REALM}"']
# Basic credentials that fail here are tried against users of the same name in other organizations
# (to answer 404 rather than 401), but against this many at most: each try costs a password hash.
OTHER_ORG_CANDIDATES = 3


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
    user = None
    if plausible:
        user = User.get_or_none(
            User.organization == organization,
            User.username == username,
            User.is_enabled == True,  # noqa: E712
        )
    if verify_password(user.password_hash if user else None, password):
        if not user.is_admin:
            raise _admin_only()
        return Caller(user)
    if plausible and _belongs_to_another_organization(organization, username, password):
        raise _not_found()
    audit.record(organization, "login_failed", actor=username[:255] or None, via="api")
    raise _unauthenticated(_("The username or password is incorrect."))


def _belongs_to_another_organization(organization, username: str, password: str) -> bool:
    others = (
        User.select()
        .where(User.organization != organization, User.username == username, User.is_enabled == True)  # noqa: E712
        .order_by(User.id)
        .limit(OTHER_ORG_CANDIDATES)
    )
    return any(verify_password(other.password_hash, password) for other in others)


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
