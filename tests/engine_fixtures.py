"""The database engine the whole suite runs on, chosen by EXASTRO_MAIL_TEST_DATABASE.

    sqlite    (the default) a file in each app's instance folder
    postgres  the server at EXASTRO_MAIL_TEST_POSTGRES_URL (postgresql://postgres@127.0.0.1:5432/test,
              without TLS on loopback)
    mariadb   the server at EXASTRO_MAIL_TEST_MARIADB_URL (mysql://root@127.0.0.1:3306/test, same)

On a server, the run makes its own databases (exastro_t<run>_<n>) beside the one in the URL and drops
them at the end. As on SQLite, a database belongs to an instance folder: build_app() on a new folder
gets the schema without rows, on the same folder the same data. Creating tables costs a server far more than
emptying them, so a database used by a test is emptied and handed to a later test. When the server is
unreachable every test is skipped, except in CI (CI=true), where the run fails.

Loaded from tests/conftest.py (pytest_plugins).
"""

import os
import secrets
import threading
from urllib.parse import urlsplit, urlunsplit

import pytest
from peewee import InterfaceError, OperationalError, ProgrammingError

from exastro_mail.store.db import EXTENSION_KEY, close_all, open_database

ENGINE_VARIABLE = "EXASTRO_MAIL_TEST_DATABASE"
SERVER_URLS = {
    "postgres": os.environ.get(
        "EXASTRO_MAIL_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test?sslmode=disable"
    ),
    "mariadb": os.environ.get(
        "EXASTRO_MAIL_TEST_MARIADB_URL", "mysql://root@127.0.0.1:3306/test?ssl_disabled=true"
    ),
}
ENGINE = os.environ.get(ENGINE_VARIABLE, "sqlite").strip().lower() or "sqlite"
if ENGINE not in ("sqlite", *SERVER_URLS):
    raise pytest.UsageError(f"{ENGINE_VARIABLE} must be sqlite, postgres or mariadb, not {ENGINE!r}")
URL_VARIABLE = "EXASTRO_MAIL_DATABASE_URL"
ADMIN_TIMEOUT = 120  # seconds (EXASTRO_MAIL_DATABASE_TIMEOUT is 5)
RUN = secrets.token_hex(3)  # names this run's databases and Redis keys: runs side by side stay apart
RATELIMIT_KEY_PREFIX = f"exastro-test-{RUN}"


class ServerDatabases:
    """Databases on the test server: made on demand, emptied and reused between tests, dropped at the end."""

    def __init__(self, engine: str, admin_url: str):
        self.engine = engine
        self.admin_url = admin_url
        self.run = RUN
        self.made: list[str] = []
        self.free: list[str] = []  # schema in place, emptied when handed out again
        self.by_instance: dict[str, str] = {}
        # One connection per database for emptying it between tests: a new one each time was a third
        # of the connections a run makes, each a new server process on PostgreSQL.
        self.cleaners: dict = {}
        self.this_test: list[str] | None = None  # instance folders taken during the running test
        self.apps_this_test: list = []

    def url(self, name: str) -> str:
        parts = urlsplit(self.admin_url)
        return urlunsplit(parts._replace(path=f"/{name}"))

    def unreachable(self) -> str | None:
        """Why the server cannot be used, or None."""
        admin = open_database(self.admin_url)
        try:
            admin.connect()
        except Exception as error:  # any driver's error: the message is what matters
            return f"{self.engine} at {self.admin_url} is not reachable: {error}"
        finally:
            close_all(admin)
        return None

    def _admin(self, statement: str) -> None:
        # CREATE and DROP DATABASE wait for a checkpoint: longer than a page may wait on a busy machine
        admin = open_database(self.admin_url, ADMIN_TIMEOUT)
        try:
            admin.execute_sql(statement)
        finally:
            close_all(admin)

    def make_empty(self) -> str:
        """A new database with no tables; its URL."""
        name = f"exastro_t{self.run}_{len(self.made)}"
        self.made.append(name)
        # Created as an operator would: the server's defaults, nothing chosen for us.
        self._admin(f"CREATE DATABASE {name}")
        return self.url(name)

    def for_instance(self, instance_path: str) -> str:
        """The database URL of an instance folder: the same for the same folder, else an empty one."""
        name = self.by_instance.get(instance_path)
        if name is not None:
            return self.url(name)
        while self.free:
            candidate = self.free.pop()
            if self._emptied(candidate):
                name = candidate
                break
        if name is None:
            name = urlsplit(self.make_empty()).path.lstrip("/")
        self.by_instance[instance_path] = name
        if self.this_test is not None:
            self.this_test.append(instance_path)
        return self.url(name)

    def _emptied(self, name: str) -> bool:
        """Delete every row but the schema version; False if that failed or the test changed the schema
        (the database is then left alone)."""
        from exastro_mail.store.migrations import LATEST
        from exastro_mail.store.models import ALL_MODELS

        # A busy machine may take longer than a page may wait to delete what a test left.
        database = self.cleaners.get(name) or open_database(self.url(name), ADMIN_TIMEOUT)
        self.cleaners[name] = database
        quote = '"' if self.engine == "postgres" else "`"
        emptied = False
        try:
            with database.atomic():
                if self.engine == "postgres":
                    database.execute_sql("SET LOCAL lock_timeout = '5s'")
                else:
                    database.execute_sql("SET SESSION innodb_lock_wait_timeout = 5")
                versions = [row[0] for row in database.execute_sql("SELECT version FROM schema_version")]
                if versions != [LATEST]:
                    return False
                for model in reversed(ALL_MODELS):  # children before parents
                    table = f"{quote}{model._meta.table_name}{quote}"
                    database.execute_sql(f"DELETE FROM {table}")  # noqa: S608 (our own table names)
            emptied = True
        except (OperationalError, ProgrammingError, InterfaceError):  # InterfaceError: the rollback's, on a
            pass  # connection the driver dropped after a timeout
        finally:
            if not emptied:  # the database is left alone from now on
                close_all(self.cleaners.pop(name))
        return emptied

    def test_started(self) -> None:
        self.this_test, self.apps_this_test = [], []
        os.environ.pop(URL_VARIABLE, None)

    def test_ended(self) -> None:
        for app in self.apps_this_test:
            close_all(app.extensions[EXTENSION_KEY])
        for instance_path in self.this_test or ():
            self.free.append(self.by_instance.pop(instance_path))
        self.this_test, self.apps_this_test = None, []
        os.environ.pop(URL_VARIABLE, None)

    def drop_all(self) -> None:
        # Apps kept for a module or the session may still hold connections: PostgreSQL ends them.
        for database in self.cleaners.values():
            close_all(database)
        self.cleaners = {}
        force = " WITH (FORCE)" if self.engine == "postgres" else ""
        for name in self.made:
            self._admin(f"DROP DATABASE IF EXISTS {name}{force}")
        self.made = []


SERVER = ServerDatabases(ENGINE, SERVER_URLS[ENGINE]) if ENGINE in SERVER_URLS else None
_apps_this_test: list = []


def database_url_for(instance_path) -> str | None:
    """The DATABASE_URL build_app gives an app on this instance folder (None: SQLite in the folder).

    On a server it is also put in the environment, so `exastro-mail` processes a test starts with
    {**os.environ, "EXASTRO_MAIL_INSTANCE_PATH": ...} reach the same database.
    """
    if SERVER is None:
        return None
    url = SERVER.for_instance(str(instance_path))
    os.environ[URL_VARIABLE] = url
    return url


def app_built(app) -> None:
    """Note an app built for the running test: its connections are closed when the test ends."""
    (SERVER.apps_this_test if SERVER is not None else _apps_this_test).append(app)


def empty_database_url(tmp_path) -> str:
    """A database with no tables on the engine under test (for tests of schema creation and migration)."""
    if SERVER is None:
        return f"sqlite:///{tmp_path / 'empty.sqlite3'}"
    return SERVER.make_empty()


def pytest_report_header(config):
    return f"database engine: {ENGINE} ({ENGINE_VARIABLE})"


def pytest_collection_modifyitems(config, items):
    if SERVER is None:
        return
    problem = SERVER.unreachable()
    if problem is None:
        return
    if os.environ.get("CI"):
        raise pytest.UsageError(f"CI needs every engine: {problem}")
    skip = pytest.mark.skip(reason=problem)
    for item in items:
        item.add_marker(skip)


def pytest_sessionfinish(session, exitstatus):
    if SERVER is not None and SERVER.made:
        SERVER.drop_all()


def _finish_test_mails() -> None:
    """Test mails still on their way (mailserver/test_runs.py) end before their databases are emptied or
    closed: SQLite's connection closed under a thread that is using it crashes the process."""
    from exastro_mail.mailserver.test_runs import THREAD_NAME

    for thread in threading.enumerate():
        if thread.name.startswith(THREAD_NAME):
            thread.join(30)


@pytest.fixture(autouse=True)
def _database_per_test():
    """Each test starts on empty databases; what it opened is closed when it ends."""
    if SERVER is not None:
        SERVER.test_started()
    else:
        _apps_this_test.clear()
    yield
    _finish_test_mails()
    if SERVER is not None:
        SERVER.test_ended()
    else:
        for app in _apps_this_test:
            close_all(app.extensions[EXTENSION_KEY])
        _apps_this_test.clear()
