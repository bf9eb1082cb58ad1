"""Fixtures: an app on a fresh instance folder and database, a client, factories and a login helper."""

import os
import re
import tempfile
from pathlib import Path

import pytest
from jinja2 import BytecodeCache

from exastro_mail import create_app
from exastro_mail.auth.accounts import create_organization, create_user
from exastro_mail.config import SQLITE_FILE
from exastro_mail.store import migrations, secretbox
from exastro_mail.store.db import EXTENSION_KEY, close_all
from exastro_mail.store.maintenance import maintenance_deadline
from exastro_mail.store.models import Organization

# Fixture modules for every test module (pytest takes pytest_plugins from the root conftest only).
pytest_plugins = [
    "tests.smtp_servers",
    "tests.engine_fixtures",
    "tests.api_fixtures",
    "tests.outbox_fixtures",
    "tests.oauth_fixtures",
    "tests.mta",
    "tests.raw_servers",
]

DEFAULT_PASSWORD = "correct horse battery"
# The suite's SMTP servers, token endpoints and Graph peers listen on loopback, which the host policy
# refuses by default (tests/test_deny_private_hosts.py proves it): the tests' install allows them, as an
# operator allows a local relay.
LOOPBACK_ALLOWED = "127.0.0.0/8,::1"
TEST_HASH_METHOD = "pbkdf2:sha256:1000"


class TemplatesCompiledOnce(BytecodeCache):
    """Jinja's compiled templates, kept for every app the suite builds: each app has an environment of
    its own, which would compile every template it renders again (a tenth of the in-process time).
    The apps' Jinja options are the same, and a changed template has another checksum."""

    def __init__(self):
        self.compiled: dict[str, bytes] = {}

    def load_bytecode(self, bucket):
        if bucket.key in self.compiled:
            bucket.bytecode_from_string(self.compiled[bucket.key])

    def dump_bytecode(self, bucket):
        self.compiled[bucket.key] = bucket.bytecode_to_string()


TEMPLATES = TemplatesCompiledOnce()


class SqliteSchema:
    """An SQLite file with the schema that migrations make, made once per process and copied into each
    new instance folder: making the schema took about a third of build_app()."""

    def __init__(self):
        self.image: bytes | None = None

    def copy_into(self, instance: Path) -> None:
        if (instance / SQLITE_FILE).exists():
            return  # the same folder again: the same data
        if self.image is None:
            with tempfile.TemporaryDirectory() as folder:
                path = Path(folder) / SQLITE_FILE
                app = create_app({"TESTING": True, "INSTANCE_PATH": folder, "DATABASE_URL": f"sqlite:///{path}"})
                with app.app_context():
                    migrations.migrate()
                close_all(app.extensions[EXTENSION_KEY])  # the last connection folds the WAL into the file
                self.image = path.read_bytes()
        instance.mkdir(mode=0o700, parents=True, exist_ok=True)
        descriptor = os.open(instance / SQLITE_FILE, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        with os.fdopen(descriptor, "wb") as file:
            file.write(self.image)


SQLITE_SCHEMA = SqliteSchema()


def build_app(tmp_path, **overrides):
    """An app on its own instance folder, with the schema created, on the engine under test
    (EXASTRO_MAIL_TEST_DATABASE, see tests/engine_fixtures.py)."""
    from tests import engine_fixtures  # a plugin (pytest_plugins): imported once pytest has loaded it

    config = {
        "TESTING": True,
        "INSTANCE_PATH": str(tmp_path / "instance"),
        "WTF_CSRF_ENABLED": False,
        "BASE_URL": "http://mail.example.test",
        "SMTP_TIMEOUT": 3,
        # Send test mail answers its result, however long the run takes (at most 3 s and a little more);
        # tests of the run followed step by step set 0 (test_test_mail_runs.py).
        "TEST_MAIL_WAIT_SECONDS": 30,
        "SMTP_ALLOWED_HOSTS": LOOPBACK_ALLOWED,
        # scrypt costs ~0.1 s a hash, a third of the suite's setup; production keeps it.
        "PASSWORD_HASH_METHOD": TEST_HASH_METHOD,
        # Runs on the other engines may share the test Redis at the same time: counts stay apart.
        "RATELIMIT_KEY_PREFIX": engine_fixtures.RATELIMIT_KEY_PREFIX,
    }
    database_url = engine_fixtures.database_url_for(tmp_path / "instance")
    if database_url:
        config["DATABASE_URL"] = database_url
    config.update(overrides)
    if not config.get("DATABASE_URL"):
        SQLITE_SCHEMA.copy_into(Path(config["INSTANCE_PATH"]))
    app = create_app(config)
    app.jinja_env.bytecode_cache = TEMPLATES
    engine_fixtures.app_built(app)
    # The schema is made as init-db makes it, within the maintenance deadline: on a busy machine a
    # server's CREATE TABLE can wait on its disk longer than the 5 s a page may wait (it did on MariaDB).
    with app.app_context(), maintenance_deadline(app):
        migrations.migrate()
    return app


@pytest.fixture
def app(tmp_path):
    return build_app(tmp_path)


@pytest.fixture
def csrf_app(tmp_path):
    return build_app(tmp_path, WTF_CSRF_ENABLED=True)


@pytest.fixture
def client(app):
    return app.test_client()


def make_org(org_id="acme", name="ACME Corp") -> Organization:
    """An organization."""
    return create_organization(org_id, name)


def make_user(org, username="alice", *, admin=False, email=None, password=DEFAULT_PASSWORD):
    """A user of an organization (an admin with admin=True)."""
    return create_user(org, username, email or f"{username}@example.com", password, admin=admin)


@pytest.fixture
def org(app):
    return make_org()


@pytest.fixture
def admin(org):
    return make_user(org, "admin", admin=True)


@pytest.fixture
def plain_user(org):
    return make_user(org, "bob")


def unsealed(app, sealed: str) -> str:
    """A secret as stored, opened with the app's encryption key."""
    with app.app_context():
        return secretbox.unseal(sealed)


class AuthActions:
    """Logs a test client in and out of an organization."""

    def __init__(self, client):
        self._client = client

    def login(self, username="admin", password=DEFAULT_PASSWORD, org_id="acme"):
        return self._client.post(f"/{org_id}/login", data={"username": username, "password": password})

    def logout(self, org_id="acme"):
        return self._client.post(f"/{org_id}/logout")


@pytest.fixture
def auth(client):
    return AuthActions(client)


def csrf_token_from(html: str) -> str:
    """The CSRF token a page carries (in a hidden field or the body's hx-headers)."""
    match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html) or re.search(
        r'"X-CSRFToken": "([^"]+)"', html
    )
    assert match, "page carries no CSRF token"
    return match.group(1)


def without_csrf_tokens(html: str) -> str:
    """A page with its CSRF tokens blanked: they are signed with the time, so two pages made a second
    apart differ there whatever they say."""
    return re.sub(r'(name="csrf_token"[^>]*? value="|"X-CSRFToken": ")[^"]+', r"\1", html)


VALID_SETTINGS = {
    "smtp_host": "smtp.example.com",
    "encryption": "starttls",
    "smtp_port": "587",
    "authentication_enable": "y",
    "authentication_user": "mailer",
    "authentication_password": "s3cret-SMTP-pass",
    "send_from": "noreply@example.com",
    "send_name": "ACME notifications",
    "reply_to": "support@example.com",
    "reply_name": "ACME support",
    "envelope_from": "bounces@example.com",
}


def plain_test_mail_form(server, **overrides) -> dict:
    """The settings form's Send test mail for a plain server (no TLS, no AUTH) on server.host:port."""
    return {
        **VALID_SETTINGS,
        "smtp_host": server.host,
        "smtp_port": str(server.port),
        "encryption": "none",
        "authentication_enable": "",
        "test_recipient": "admin@example.com",
        **overrides,
    }


def pytest_collection_modifyitems(config, items):
    """A test marked only_on(...) for other engines is deselected: what cannot apply is no skip."""
    from tests.engine_fixtures import ENGINE

    kept, dropped = [], []
    for item in items:
        marker = item.get_closest_marker("only_on")
        (dropped if marker is not None and ENGINE not in marker.args else kept).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


def pytest_sessionfinish(session, exitstatus):
    """In CI nothing may be skipped for lack of a component: a skip fails the run."""
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = reporter.stats.get("skipped", []) if reporter else []
    if os.environ.get("CI") and skipped:
        reporter.write_line(f"CI: {len(skipped)} test(s) skipped; nothing may be skipped in CI.", red=True)
        session.exitstatus = 1
