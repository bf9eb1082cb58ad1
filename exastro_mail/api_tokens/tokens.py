"""API tokens: made at random, shown once, stored only as a SHA-256 hash, revocable."""

import re
import secrets
import unicodedata
from datetime import timedelta

from flask_babel import gettext as _

from ..store import audit
from ..store.db import db
from ..store.hashed_tokens import token_hash
from ..store.models import ApiToken, User, utcnow

TOKEN_PREFIX = "exm_"  # noqa: S105  # nosec B105  # a prefix, not a secret
# The prefix makes a leaked token recognisable (secret scanners, logs); 32 random bytes follow.
TOKEN_PATTERN = re.compile(r"exm_[A-Za-z0-9_-]{43}")
NAME_MAX_LENGTH = 100
# last_used_at is written at most this often, so a busy tool does not write on every call.
LAST_USED_RESOLUTION = timedelta(seconds=60)


def token_name_problem(name: str) -> str | None:
    """Why a token name is not acceptable, or None."""
    if not name:
        return _("Enter a name, such as the tool that will use the token.")
    if len(name) > NAME_MAX_LENGTH:
        return _("Use at most %(max)d characters.", max=NAME_MAX_LENGTH)
    if any(unicodedata.category(c) in {"Cc", "Zl", "Zp", "Cs"} for c in name):
        return _("A name must be one line, without control characters.")
    return None


def new_token_name_problem(organization, name: str) -> str | None:
    """Why a new token of the organization cannot have this name: a bad name, or one a working token has."""
    if problem := token_name_problem(name):
        return problem
    if name_taken(organization, name):
        return _(
            "A token named “%(name)s” already works in this organization: choose another name, "
            "or revoke that token first.",
            name=name,
        )
    return None


def name_taken(organization, name: str) -> bool:
    """Whether a token of the organization that still works has this name (letter case aside)."""
    names = ApiToken.select(ApiToken.name).where(
        ApiToken.organization == organization, ApiToken.revoked_at.is_null()
    )
    wanted = name.casefold()
    return any(row.name.casefold() == wanted for row in names)


def issue_token(organization, user: User, name: str) -> tuple[ApiToken, str]:
    """Create a token for a user of the organization; returns it with its secret (the only copy).
    Call it inside db.atomic() together with whatever keeps the secret for its one showing."""
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with db.atomic():
        token = ApiToken.create(
            organization=organization, user=user, name=name, token_hash=token_hash(secret)
        )
        audit.record(organization, "api_token.created", actor=user.username, token_id=token.id, name=name)
    return token, secret


def revoke_token(token: ApiToken, actor: str) -> bool:
    """Revoke a token; returns False if it was already revoked."""
    with db.atomic():
        revoked = (
            ApiToken.update(revoked_at=utcnow())
            .where(ApiToken.id == token.id, ApiToken.revoked_at.is_null())
            .execute()
        )
        if revoked:
            audit.record(
                token.organization, "api_token.revoked", actor=actor, token_id=token.id, name=token.name
            )
    return bool(revoked)


def find_token(secret: str) -> ApiToken | None:
    """The token with this secret, revoked or not, with its user; None if there is none."""
    if not TOKEN_PATTERN.fullmatch(secret):
        return None
    return ApiToken.select(ApiToken, User).join(User).where(ApiToken.token_hash == token_hash(secret)).first()


def note_use(token: ApiToken) -> None:
    """Record that a token was just used (at most once per LAST_USED_RESOLUTION)."""
    now = utcnow()
    ApiToken.update(last_used_at=now).where(
        ApiToken.id == token.id,
        (ApiToken.last_used_at.is_null()) | (ApiToken.last_used_at < now - LAST_USED_RESOLUTION),
    ).execute()


def tokens_of(organization) -> list[ApiToken]:
    """The organization's tokens with their creators: active ones first, newest first."""
    return list(
        ApiToken.select(ApiToken, User)
        .join(User)
        .where(ApiToken.organization == organization)
        .order_by(ApiToken.revoked_at.is_null(False), ApiToken.created_at.desc(), ApiToken.id.desc())
    )
