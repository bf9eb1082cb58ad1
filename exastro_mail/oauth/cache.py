"""Access tokens kept in memory per process and organization, reused until shortly before they expire."""

import threading
import time
from collections.abc import Callable
from typing import TypeVar

from .errors import TokenRefused
from .https import HttpsClient
from .tokens import Token, TokenSource, fetch_token

T = TypeVar("T")

# Renew this long before expiry (or at half the lifetime, for short-lived tokens), so a token is never
# handed out just as it lapses in the middle of an SMTP conversation.
RENEW_BEFORE = 300.0


class TokenCache:
    """Tokens by (organization, what identifies the credentials); thread-safe.

    The key holds a digest of the token URL, client and secret (or key and mailbox), so changed settings
    never reuse a token obtained with the old ones. Threads asking for the same missing token wait for
    one request instead of each making their own.
    """

    def __init__(self, *, renew_before: float = RENEW_BEFORE):
        self._renew_before = renew_before
        self._tokens: dict[tuple[str, str], Token] = {}
        self._fetching: dict[tuple[str, str], threading.Lock] = {}
        self._lock = threading.Lock()

    def get(self, organization: str, source: TokenSource, client: HttpsClient) -> Token:
        """A token for these credentials: the kept one while it is fresh, else a new one (TokenError)."""
        key = (organization, source.identity())
        token = self._fresh(key)
        if token is not None:
            return token
        with self._lock:
            fetching = self._fetching.setdefault(key, threading.Lock())
        with fetching:
            token = self._fresh(key)
            if token is not None:
                return token
            token = fetch_token(source, client)
            with self._lock:
                self._tokens[key] = token
            return token

    def drop(self, organization: str, source: TokenSource, token: Token | None = None) -> None:
        """Forget the kept token (only if it is still `token`, when given): it was refused."""
        key = (organization, source.identity())
        with self._lock:
            kept = self._tokens.get(key)
            if kept is not None and (token is None or kept.access_token == token.access_token):
                del self._tokens[key]

    def forget_organization(self, organization: str) -> None:
        """Forget every token of an organization (its settings were deleted or replaced)."""
        with self._lock:
            for key in [key for key in self._tokens if key[0] == organization]:
                del self._tokens[key]
            for key in [key for key in self._fetching if key[0] == organization]:
                del self._fetching[key]

    def _fresh(self, key) -> Token | None:
        with self._lock:
            token = self._tokens.get(key)
        if token is None:
            return None
        margin = min(self._renew_before, token.expires_in / 2)
        if time.monotonic() < token.expires_at() - margin:
            return token
        return None


def with_token(
    cache: TokenCache,
    organization: str,
    source: TokenSource,
    client: HttpsClient,
    use: Callable[[Token], T],
) -> T:
    """Call use(token); if it raises TokenRefused, drop that token and try once more with a new one."""
    token = cache.get(organization, source, client)
    try:
        return use(token)
    except TokenRefused:
        cache.drop(organization, source, token)
    return use(cache.get(organization, source, client))
