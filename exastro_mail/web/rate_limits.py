"""Limits on what can be guessed or abused: per client address, logins, forgot-password requests and
failed API authentications; per admin and per organization, test mails (reset mails per account are
counted in the database, by the worker).

Each limit is declared once below, as a Limit named after what it guards. They count in fixed
windows, each starting at a client's first hit, where EXASTRO_MAIL_RATELIMIT_STORAGE_URI says, under
EXASTRO_MAIL_RATELIMIT_KEY_PREFIX:

    database://  (the default) a row per client and limit in the app's database: every worker process
                 and every instance on that database counts together
    redis://...  Redis, through the `limits` library: for many instances, without a write to the
                 database per attempt; when Redis does not answer, each process counts in its own
                 memory until it answers again, and the log says so once
    memory://    each process on its own (a single process, or tests)

A limit costs something only where it is checked: a GET of the login page counts nothing.
"""

import functools
import logging
import threading
import time
import weakref
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from flask import current_app, request
from limits import parse, storage, strategies
from limits.errors import StorageError
from limits.util import WindowStats
from werkzeug.exceptions import TooManyRequests

from ..store.db import MYSQL, db, engine
from ..store.models import RateLimitWindow

EXTENSION_KEY = "exastro_mail.rate_limits"
DATABASE_STORAGE = "database://"
RETRY_STORAGE_SECONDS = 30  # while the storage is down, how often to ask whether it is back
# A Redis that does not answer must not hold a request for long: the limit falls back to memory.
SERVER_STORAGE_OPTIONS = {"socket_connect_timeout": 2, "socket_timeout": 2}
FORGET_ENDED_WINDOWS_SECONDS = 60  # how often a process deletes the database's windows that ended

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Limit:
    """A limit on how often one client address (or another subject: an admin, an organization) may do
    something, read from a setting."""

    setting: str  # the app.config name, e.g. LOGIN_LIMIT_PER_CLIENT (EXASTRO_MAIL_LOGIN_LIMIT_PER_CLIENT)
    scope: str  # names its counts in the storage

    def hit(self, subject: str | None = None) -> None:
        """Count this request against subject (the client address if None); past the limit, answer
        429 with Retry-After."""
        subject = subject or _client()
        if not _limits().hit(self._limit(), self.scope, subject):
            raise self._too_many(subject)

    def refuse_if_over(self) -> None:
        """Answer 429 with Retry-After if this client has used the limit up, counting nothing."""
        if not _limits().within(self._limit(), self.scope, _client()):
            raise self._too_many(_client())

    def count(self) -> None:
        """Count one against the limit (for a failure already answered)."""
        _limits().hit(self._limit(), self.scope, _client())

    def _limit(self) -> str:
        return current_app.config[self.setting]

    def _too_many(self, subject: str) -> TooManyRequests:
        return TooManyRequests(retry_after=_limits().seconds_left(self._limit(), self.scope, subject))


LOGIN = Limit("LOGIN_LIMIT_PER_CLIENT", "login")
FORGOT_PASSWORD = Limit("RESET_LIMIT_PER_CLIENT", "forgot-password")
# Failed authentications only: past the limit every call gets 429, right credentials too.
API_AUTHENTICATION = Limit("API_AUTH_LIMIT_PER_CLIENT", "api-authentication")
# Each test mail connects to a server the admin names: counted per admin and per organization, so a
# tenant cannot turn Send test mail into a scanner, however many admins or addresses it has.
TEST_MAIL_PER_ADMIN = Limit("TEST_MAIL_LIMIT_PER_ADMIN", "test-mail-admin")
TEST_MAIL_PER_ORGANIZATION = Limit("TEST_MAIL_LIMIT_PER_ORGANIZATION", "test-mail-organization")


class DatabaseWindows:
    """The part of limits' fixed-window strategy used here, counting in the RateLimitWindow table.

    As in limits' memory and Redis storages, a client's window starts at its first hit and lasts the
    limit's length; a hit after it ended starts the next. One upsert counts and reads the count, so two
    processes hitting at once each see at least their own hit, and neither lets one more through.
    """

    def __init__(self, clock=time.time):
        self._clock = clock
        self._forgotten_at = time.monotonic()

    def hit(self, item, *identifiers) -> bool:
        now = self._now()
        ends_at = now + timedelta(seconds=item.get_expiry())
        database = db.obj
        bucket, now_value = self._bucket(item, identifiers), RateLimitWindow.ends_at.db_value(now)
        params = (bucket, RateLimitWindow.ends_at.db_value(ends_at), now_value, now_value)
        if engine(database) == MYSQL:  # no RETURNING with ON DUPLICATE KEY UPDATE: read it back
            with db.transaction():  # part of the caller's, if any, without a savepoint
                database.execute_sql(_count_sql(database), params)
                hits, _ends_at = self._window(bucket, now)
        else:  # one statement, atomic on its own
            hits = database.execute_sql(_count_sql(database), params).fetchone()[0]
        self._forget_ended_windows(now)
        return hits <= item.amount

    def test(self, item, *identifiers) -> bool:
        hits, _ends_at = self._window(self._bucket(item, identifiers), self._now())
        return hits < item.amount

    def get_window_stats(self, item, *identifiers) -> WindowStats:
        now = self._now()
        hits, ends_at = self._window(self._bucket(item, identifiers), now)
        ends_at = ends_at or now + timedelta(seconds=item.get_expiry())  # none yet: one would start now
        return WindowStats(ends_at.replace(tzinfo=UTC).timestamp(), max(0, item.amount - hits))

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self._clock(), UTC).replace(tzinfo=None)

    @staticmethod
    def _bucket(item, identifiers) -> str:
        return item.key_for(*identifiers)[:255]

    @staticmethod
    def _window(bucket: str, now: datetime) -> tuple[int, datetime | None]:
        """The hits counted in the bucket's window and when it ends; (0, None) if none is running."""
        database = db.obj
        row = database.execute_sql(_window_sql(database), (bucket,)).fetchone()
        ends_at = RateLimitWindow.ends_at.python_value(row[1]) if row else None
        return (row[0], ends_at) if ends_at is not None and ends_at > now else (0, None)

    def _forget_ended_windows(self, now: datetime) -> None:
        if time.monotonic() - self._forgotten_at < FORGET_ENDED_WINDOWS_SECONDS:
            return
        self._forgotten_at = time.monotonic()
        # A minute's grace: a window another process's clock still sees is kept.
        RateLimitWindow.delete().where(RateLimitWindow.ends_at < now - timedelta(minutes=1)).execute()


# Every limited request runs one of these: written once per database, as peewee would build them anew
# each time, which cost more than the database took to answer (bench/rate_limit_storage.py).
@functools.lru_cache(maxsize=8)
def _count_sql(database) -> str:
    """Count one hit (parameters: bucket, the end of a window starting now, now, now): the first of a
    bucket makes its row, one after its window ended starts the next; RETURNING the count except on
    MariaDB."""
    table, param = RateLimitWindow._meta.table_name, database.param
    insert = f"INSERT INTO {table} (bucket, hits, ends_at) VALUES ({param}, 1, {param})"  # noqa: S608  # nosec B608  # our table
    if engine(database) == MYSQL:
        # Assigned left to right, each seeing the ones before: hits reads the old ends_at.
        running = f"ends_at > {param}"
        hits = f"hits = IF({running}, hits + 1, 1)"
        ends_at = f"ends_at = IF({running}, ends_at, VALUES(ends_at))"
        return f"{insert} ON DUPLICATE KEY UPDATE {hits}, {ends_at}"  # nosec B608  # our table
    running = f"{table}.ends_at > {param}"
    hits = f"hits = CASE WHEN {running} THEN {table}.hits + 1 ELSE 1 END"
    ends_at = f"ends_at = CASE WHEN {running} THEN {table}.ends_at ELSE excluded.ends_at END"
    return f"{insert} ON CONFLICT (bucket) DO UPDATE SET {hits}, {ends_at} RETURNING hits"  # nosec B608  # our table


@functools.lru_cache(maxsize=8)
def _window_sql(database) -> str:
    table, param = RateLimitWindow._meta.table_name, database.param
    return f"SELECT hits, ends_at FROM {table} WHERE bucket = {param}"  # noqa: S608  # nosec B608  # our table


class RateLimits:
    """The counters of one app: its storage, and (for Redis) the memory it falls back to."""

    def __init__(self, uri: str, prefix: str | None):
        self._storage = None
        if uri.startswith(DATABASE_STORAGE):
            self._shared = DatabaseWindows()
        else:
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
