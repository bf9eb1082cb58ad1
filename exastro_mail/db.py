"""The database: one peewee Database per app, reached through a proxy that follows the app in context."""

from urllib.parse import urlsplit

from flask import current_app, has_app_context
from peewee import DatabaseProxy, SqliteDatabase
from playhouse.db_url import connect

EXTENSION_KEY = "exastro_mail.db"
SQLITE_PRAGMAS = {
    "journal_mode": "wal",
    "busy_timeout": 10000,
    "foreign_keys": 1,
    "synchronous": "normal",
}


class AppDatabaseProxy(DatabaseProxy):
    """Resolves to the database of the Flask app in context, so two apps never share one."""

    def __getattr__(self, attr):
        if has_app_context() and EXTENSION_KEY in current_app.extensions:
            return getattr(current_app.extensions[EXTENSION_KEY], attr)
        return super().__getattr__(attr)

    def __enter__(self):
        return self.__getattr__("__enter__")()

    def __exit__(self, *exc):
        return self.__getattr__("__exit__")(*exc)


db = AppDatabaseProxy()


def open_database(url: str):
    """Make a peewee Database from a URL; SQLite gets WAL, a busy timeout and IMMEDIATE writes."""
    scheme = urlsplit(url).scheme
    if scheme == "sqlite":
        path = url[len("sqlite:///") :]
        return SqliteDatabase(path, pragmas=SQLITE_PRAGMAS, lock_type="IMMEDIATE", timeout=10)
    return connect(url)


def init_app(app) -> None:
    """Bind the app's database and open/close one connection per request."""
    database = open_database(app.config["DATABASE_URL"])
    app.extensions[EXTENSION_KEY] = database
    db.initialize(database)  # outside any app context (worker threads, CLI) the last app wins

    @app.before_request
    def _connect():
        database.connect(reuse_if_open=True)

    @app.teardown_request
    def _close(_exc):
        if not database.is_closed():
            database.close()


def is_sqlite(database=None) -> bool:
    """Whether the database in use is SQLite."""
    target = database or current_app.extensions[EXTENSION_KEY]
    return isinstance(target, SqliteDatabase)
