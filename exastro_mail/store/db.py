"""The database: one peewee Database per app, reached through a proxy that follows the app in context.

EXASTRO_MAIL_DATABASE_URL picks the engine: sqlite:///path (the default, in the instance folder),
postgresql://user:password@host:5432/name or mysql://user:password@host:3306/name (MariaDB 10.6+).
The server engines get a connection pool; pool options (max_connections, stale_timeout, timeout) and
driver options may be added as query parameters.
"""

import contextlib
import functools
import importlib.util
import os
import weakref
from urllib.parse import urlsplit

from flask import request_started
from peewee import DatabaseProxy, MySQLDatabase, PostgresqlDatabase, SqliteDatabase
from playhouse.db_url import parse
from playhouse.pool import PooledDatabase, PooledMySQLDatabase, PooledPostgresqlDatabase

from ..config import ConfigError
from ..library_internals import app_in_context
from . import timeouts
from .sqlite_file import SqliteFileDatabase

EXTENSION_KEY = "exastro_mail.db"
SQLITE_PRAGMAS = {
    "journal_mode": "wal",  # the wait for another writer (busy_timeout) is open_database's sqlite_busy
    "foreign_keys": 1,
    "synchronous": "normal",
}
# Per process: a gunicorn sync worker uses one connection, a threaded one one per thread.
POOL_DEFAULTS = {
    "max_connections": 20,
    "stale_timeout": 300,  # seconds: older connections are replaced (servers and proxies drop idle ones)
}
# MariaDB: text compares byte for byte as on SQLite and PostgreSQL ('Alice' is not 'alice'); strict mode
# refuses what would otherwise be silently truncated; READ COMMITTED (PostgreSQL's default) takes no gap
# locks, so requests inserting mail do not wait on a worker's claim.
MYSQL_CHARACTER_SET = "CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"
MYSQL_SQL_MODE = "STRICT_ALL_TABLES,NO_ENGINE_SUBSTITUTION,ERROR_FOR_DIVISION_BY_ZERO"
# One SET, as PyMySQL sends init_command alone (tx_isolation: MariaDB 11.1 also calls it
# transaction_isolation, which 10.x does not know).
MYSQL_INIT_COMMAND = "SET SESSION tx_isolation = 'READ-COMMITTED', {timeout}"

SQLITE, POSTGRESQL, MYSQL = "sqlite", "postgresql", "mysql"
_DRIVERS = {POSTGRESQL: ("psycopg2", "postgres"), MYSQL: ("pymysql", "mysql")}


class AppDatabaseProxy(DatabaseProxy):
    """Resolves to the database of the Flask app in context, so two apps never share one.

    Outside an app context (worker threads, the CLI) it is the database last initialized. peewee reads
    `obj` directly in places (whether an INSERT may use RETURNING), so `obj` itself follows the app.
    """

    @property
    def obj(self):
        app = app_in_context()  # read dozens of times per request
        database = app.extensions.get(EXTENSION_KEY) if app is not None else None
        return database if database is not None else DatabaseProxy.obj.__get__(self)

    @obj.setter
    def obj(self, database):
        DatabaseProxy.obj.__set__(self, database)


db = AppDatabaseProxy()


class PooledMariaDBDatabase(PooledMySQLDatabase):
    """MariaDB (or MySQL) with microsecond times, long texts, exact text comparison, strict mode and
    READ COMMITTED."""

    # TEXT holds 64 KiB: too little for a 1 MiB notification.
    field_types = {**PooledMySQLDatabase.field_types, "DATETIME": "DATETIME(6)", "TEXT": "LONGTEXT"}
    sql_mode = MYSQL_SQL_MODE


_pools: "weakref.WeakSet[PooledDatabase]" = weakref.WeakSet()


def _close_idle_pools() -> None:
    # A forked child (a gunicorn worker) must not inherit the parent's sockets: two processes speaking
    # on one connection corrupt it for both.
    for pool in list(_pools):
        pool.close_idle()


os.register_at_fork(before=_close_idle_pools)


def engine_of_url(url: str) -> str:
    """sqlite, postgresql or mysql for a database URL; ConfigError for anything else."""
    scheme = urlsplit(url).scheme.lower().removesuffix("+pool")
    if scheme == SQLITE:
        return SQLITE
    if scheme in ("postgresql", "postgres"):
        return POSTGRESQL
    if scheme in ("mysql", "mariadb"):
        return MYSQL
    raise ConfigError(
        "EXASTRO_MAIL_DATABASE_URL must start with sqlite:///, postgresql:// or mysql:// (MariaDB), "
        f"not {scheme + '://' if scheme else 'a bare path'}."
    )


def open_database(url: str, timeout: float = timeouts.DEFAULT_SECONDS, *, sqlite_busy: float = 10):
    """Make a peewee Database from a URL: SQLite with WAL and IMMEDIATE writes, waiting up to sqlite_busy
    seconds for another writer, else a pool whose connections and queries give up after timeout seconds
    (see store/timeouts.py)."""
    engine = engine_of_url(url)
    if engine == SQLITE:
        path = url[len("sqlite:///") :]
        if not path:
            raise ConfigError(
                "EXASTRO_MAIL_DATABASE_URL: give SQLite a file, as in sqlite:////var/lib/mail.db"
            )
        _create_private_file(path)
        pragmas = {**SQLITE_PRAGMAS, "busy_timeout": round(sqlite_busy * 1000)}
        return SqliteFileDatabase(path, pragmas=pragmas, lock_type="IMMEDIATE", timeout=sqlite_busy)
    module, extra = _DRIVERS[engine]
    if importlib.util.find_spec(module) is None:
        raise ConfigError(
            f"EXASTRO_MAIL_DATABASE_URL names {engine}, whose driver is not installed: "
            f"pip install 'exastro-mail[{extra}]'."
        )
    options = parse(url, unquote_password=True, unquote_user=True)
    if not options.get("database"):
        raise ConfigError(
            "EXASTRO_MAIL_DATABASE_URL names no database, as in postgresql://host/exastro_mail."
        )
    # the pool waits as long for a free connection as for the server
    for name, value in {**POOL_DEFAULTS, "timeout": max(1, round(timeout))}.items():
        options.setdefault(name, value)
    if engine == POSTGRESQL:
        for name, value in timeouts.postgresql_options(timeout).items():
            options.setdefault(name, value)
        database = PooledPostgresqlDatabase(**options)
    else:
        for name, value in timeouts.mysql_options(timeout).items():
            options.setdefault(name, value)
        options.setdefault(
            "init_command", MYSQL_INIT_COMMAND.format(timeout=timeouts.mysql_session_settings(timeout))
        )
        database = PooledMariaDBDatabase(**options)
    _pools.add(database)
    return database


def _create_private_file(path: str) -> None:
    """Create a new SQLite file readable by its owner only (password and token hashes, the audit log);
    SQLite gives its -wal and -shm files the same mode. An existing file is left as it is."""
    if path == ":memory:" or path.startswith("file:") or not os.path.isdir(os.path.dirname(path) or "."):
        return  # nothing on disk, or a folder that is not there: SQLite says so when it opens it
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))


def init_app(app) -> None:
    """Bind the app's database. A request connects at its first query (a static file or a stored page
    may need none), taking a pooled connection, and gives it back when done."""
    seconds = app.config["DATABASE_TIMEOUT"]
    database = open_database(app.config["DATABASE_URL"], seconds)
    app.extensions[EXTENSION_KEY] = database
    db.initialize(database)  # outside any app context (worker threads, CLI) the last app wins
    pooled = isinstance(database, PooledDatabase)
    weakref.finalize(app, close_all, database)

    def _start_clock(_sender, **_extra):
        timeouts.start_request_clock(seconds)

    # A signal, not before_request: URL value preprocessors (the organization in the URL) run before those.
    request_started.connect(_start_clock, app, weak=False)

    @app.teardown_request
    def _give_back(_exc):
        # SQLite keeps its per-thread connection (see SqliteFileDatabase); a pool gets its one back.
        try:
            if pooled and not database.is_closed():
                database.close()
        finally:
            timeouts.stop_request_clock()


def close_all(database) -> None:
    """Close every connection a database holds (its pool, or SQLite's per-thread connections)."""
    if isinstance(database, PooledDatabase | SqliteFileDatabase):
        database.close_all()
    elif not database.is_closed():
        database.close()


def insert_row(model, **values) -> None:
    """INSERT one row as Model.create would (defaults filled in), with its SQL text built once per
    database, table and columns: peewee builds it anew on every call, which on the pages end users hit
    takes longer than the database takes to store the row."""
    for field in model._meta.sorted_fields:
        if field.name not in values and field.default is not None:
            values[field.name] = field.default() if callable(field.default) else field.default
    database = db.obj
    fields = tuple(model._meta.fields[name] for name in values)
    params = [field.db_value(value) for field, value in zip(fields, values.values(), strict=True)]
    database.execute_sql(_insert_sql(database, model, fields), params)


@functools.lru_cache(maxsize=64)
def _insert_sql(database, model, fields) -> str:
    # Columns in the order given (a dict would be reordered); no RETURNING, since nothing is read back.
    query = model.insert_many([(None,) * len(fields)], fields=list(fields)).returning()
    sql, _params = database.get_sql_context().sql(query).query()
    return sql


def engine(database=None) -> str:
    """sqlite, postgresql or mysql: the engine of the database in use (or of the one given)."""
    target = db.obj if database is None or database is db else database
    if isinstance(target, SqliteDatabase):
        return SQLITE
    if isinstance(target, PostgresqlDatabase):
        return POSTGRESQL
    if isinstance(target, MySQLDatabase):
        return MYSQL
    raise TypeError(f"unsupported database {type(target).__name__}")


def is_sqlite(database=None) -> bool:
    """Whether the database in use is SQLite."""
    return engine(database) == SQLITE
