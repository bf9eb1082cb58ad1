"""A new token's one showing: Create token answers with a redirect to the list carrying a one-time id, and
the page that id opens shows the token once. A reload then shows nothing and makes nothing."""

import secrets
from datetime import timedelta

from ..store import secretbox
from ..store.hashed_tokens import token_hash
from ..store.models import ApiToken, NewTokenShowing, User, utcnow

# Long enough for a slow redirect; the sealed copy never outlives it, shown or not.
SHOWING_TTL = timedelta(minutes=5)


def hold_for_showing(token: ApiToken, secret: str) -> str:
    """Keep the new token sealed until its one showing; returns the one-time id that opens it.
    Call it in the transaction that made the token."""
    showing_id = secrets.token_urlsafe(24)
    NewTokenShowing.create(
        api_token=token,
        showing_hash=token_hash(showing_id),
        token_sealed=secretbox.seal(secret),
        expires_at=utcnow() + SHOWING_TTL,
    )
    return showing_id


def take_showing(organization, user: User, showing_id: str) -> tuple[ApiToken, str] | None:
    """The token and its secret, once, for the administrator who made it; None when the id is unknown,
    already shown, expired, or someone else's."""
    now = utcnow()
    NewTokenShowing.delete().where(NewTokenShowing.expires_at <= now).execute()
    if not showing_id or len(showing_id) > 64:
        return None
    row = (
        NewTokenShowing.select(NewTokenShowing, ApiToken)
        .join(ApiToken)
        .where(
            NewTokenShowing.showing_hash == token_hash(showing_id),
            ApiToken.organization == organization,
            ApiToken.user == user,
        )
        .first()
    )
    # Deleting is what makes it once: of two requests with the same id, one deletes the row.
    if row is None or not NewTokenShowing.delete().where(NewTokenShowing.id == row.id).execute():
        return None
    return row.api_token, secretbox.unseal(row.token_sealed)
