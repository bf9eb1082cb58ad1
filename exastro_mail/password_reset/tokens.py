"""Reset tokens: 256 random bits handed out once, kept only as a SHA-256 hash, bound to one user.

The checks are pure functions of the stored rows and `now`, so expiry is tested without waiting.
"""

import re
import secrets
from datetime import datetime, timedelta

from ..store.hashed_tokens import token_hash
from ..store.models import ResetToken, User

TOKEN_BYTES = 32
# token_urlsafe(32) gives 43 characters; anything else is refused before touching the database.
_TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_-]{43}")


def new_token() -> str:
    """A fresh random token, as it goes into the link."""
    return secrets.token_urlsafe(TOKEN_BYTES)


def issue(user: User, token: str, *, now: datetime, ttl_seconds: int) -> ResetToken:
    """Store a new token's hash for a user's current address (inside the caller's transaction)."""
    return ResetToken.create(
        user=user,
        token_hash=token_hash(token),
        email=user.email,
        created_at=now,
        expires_at=now + timedelta(seconds=ttl_seconds),
    )


def token_problem(row: ResetToken, user: User, now: datetime) -> str | None:
    """Why a stored token no longer works, or None while it does (valid up to and including expires_at)."""
    if row.used_at is not None:
        return "the link was already used"
    if now > row.expires_at:
        return "the link expired"
    if row.created_at < user.password_changed_at:
        return "the password was changed after the link was sent"
    if row.email != user.email:
        return "the account's email address changed after the link was sent"
    if not user.is_enabled:
        return "the account is disabled"
    return None


def find(organization, token: str) -> ResetToken | None:
    """The stored token (with its user) for a token from a link, if it belongs to this organization."""
    if not isinstance(token, str) or not _TOKEN_SHAPE.fullmatch(token):
        return None
    return find_by_hash(organization, token_hash(token))


def find_by_hash(organization, hashed: str) -> ResetToken | None:
    """The stored token (with its user) for a token hash, if it belongs to this organization."""
    return (
        ResetToken.select(ResetToken, User)
        .join(User)
        .where(ResetToken.token_hash == hashed, User.organization == organization)
        .first()
    )
