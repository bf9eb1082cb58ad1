"""Limits per client address on what can be guessed or abused: logins, forgot-password requests and
failed API authentications (reset mails per account are counted in the database, by the worker).

The `limits` library counts, in fixed windows, in EXASTRO_MAIL_RATELIMIT_STORAGE_URI (memory:// in
each process, redis://... shared by every instance), under EXASTRO_MAIL_RATELIMIT_KEY_PREFIX. A limit
costs something only where it is checked: Flask-Limiter, used before, resolved its limits on every
request, a quarter of the login page's time although no limit applies to a GET. When the storage does
not answer (Redis down), each process counts in its own memory until it answers again, and the log
says so once.
"""

import logging
import threading
import time
import weakref

from flask import current_app, request
from limits import parse, storage, strategies
from limits.errors import StorageError
from werkzeug.exceptions import TooManyRequests

EXTENSION_KEY = "exastro_mail.rate_limits"
RETRY_STORAGE_SECONDS = 30  # while the storage is down, how often to ask whether it is back
# A Redis that does not answer must not hold a request for long: the limit falls back to memory.
SERVER_STORAGE_OPTIONS = {"socket_connect_timeout": 2, "socket_timeout": 2}

log = logging.getLogger(__name__)


class RateLimits:
    """The counters of one app: its storage, and the memory it falls back to."""

    def __init__(self, uri: str, prefix: str | None):
        options = {} if uri.startswith("memory://") else SERVER_STORAGE_OPTIONS
        self._storage = storage.storage_from_string(uri, wrap_exceptions=True, **options)
        self._shared = strategies.FixedWindowRateLimiter(self._storage)
        self._own = strategies.FixedWindowRateLimiter(storage.MemoryStorage())
        self._prefix = (prefix,) if prefix else ()
        self._down_since: float | None = None
        self._lock = threading.Lock()

    def hit(self, limit: str, scope: str, client: str) -> bool:
        """Count one more; False when that goes past the limit."""
        return self._ask("hit", parse(limit), scope, client)

    def within(self, limit: str, scope: str, client: str) -> bool:
        """Whether one more would still be within the limit, counting nothing."""
        return self._ask("test", parse(limit), scope, client)

    def seconds_left(self, limit: str, scope: str, client: str) -> int:
        """Seconds until the limit's current window ends (at least 1)."""
        reset_at = self._ask("get_window_stats", parse(limit), scope, client).reset_time
        return max(1, int(reset_at - time.time()) + 1)

    def close(self) -> None:
        """Close the storage's connections (limits keeps a Redis storage's client as .storage)."""
        client = getattr(self._storage, "storage", None)
        if client is not None and callable(getattr(client, "close", None)):
            client.close()

    def _ask(self, method: str, item, scope: str, client: str):
        identifiers = (*self._prefix, scope, client)
        if self._storage_usable():
            try:
                return getattr(self._shared, method)(item, *identifiers)
            except StorageError as error:
                self._storage_failed(error)
        return getattr(self._own, method)(item, *identifiers)

    def _storage_usable(self) -> bool:
        if self._down_since is None:
            return True
        if time.monotonic() - self._down_since < RETRY_STORAGE_SECONDS:
            return False
        with self._lock:
            if self._down_since is not None and self._storage.check():
                self._down_since = None
                log.warning("Rate limit storage answers again; counting there again")
            elif self._down_since is not None:
                self._down_since = time.monotonic()
        return self._down_since is None

    def _storage_failed(self, error: StorageError) -> None:
        with self._lock:
            if self._down_since is None:
                log.warning(
                    "Rate limit storage unreachable (%s); counting in this process's memory until it "
                    "answers again",
                    error.storage_error,
                )
            self._down_since = time.monotonic()


def init_app(app) -> None:
    """Give the app its counters, in the configured storage (its connections closed with the app)."""
    limits = RateLimits(app.config["RATELIMIT_STORAGE_URI"], app.config.get("RATELIMIT_KEY_PREFIX"))
    app.extensions[EXTENSION_KEY] = limits
    weakref.finalize(app, limits.close)


def _limits() -> RateLimits:
    return current_app.extensions[EXTENSION_KEY]


def _client() -> str:
    return request.remote_addr or "unknown"  # behind proxies: the address ProxyFix took from them


def limit_this_client(setting: str, scope: str) -> None:
    """Count this request against the limit named by a setting (LOGIN_LIMIT_PER_CLIENT, say) for the
    client's address; past it, answer 429 with Retry-After."""
    limit = current_app.config[setting]
    if not _limits().hit(limit, scope, _client()):
        raise _too_many(limit, scope)


def refuse_if_over(setting: str, scope: str) -> None:
    """Answer 429 with Retry-After if this client has used up the limit, counting nothing."""
    limit = current_app.config[setting]
    if not _limits().within(limit, scope, _client()):
        raise _too_many(limit, scope)


def count_for_this_client(setting: str, scope: str) -> None:
    """Count one against the limit for the client's address (a failure already answered)."""
    _limits().hit(current_app.config[setting], scope, _client())


def _too_many(limit: str, scope: str) -> TooManyRequests:
    return TooManyRequests(retry_after=_limits().seconds_left(limit, scope, _client()))
