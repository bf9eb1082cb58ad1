"""Configuration: defaults in code, EXASTRO_MAIL_* environment variables, keys in the instance folder."""

import os
import secrets
import tempfile
from pathlib import Path

from cryptography.fernet import Fernet

from . import config_checks as checks
from .config_checks import ConfigError, allowed_hosts

ENV_PREFIX = "EXASTRO_MAIL"

DEFAULTS = {
    "DATABASE_URL": None,  # None: SQLite file in the instance folder
    "BASE_URL": None,
    "PASSWORD_RESET_TTL": 1800,  # nosec B105  # a lifetime in seconds, not a password
    # werkzeug's method string: scrypt[:n:r:p] or pbkdf2[:hash:iterations]
    "PASSWORD_HASH_METHOD": "scrypt",  # nosec B105  # the name of a hash function, not a password
    "SMTP_TIMEOUT": 10.0,
    "SMTP_CA_FILE": None,
    # How long Send test mail's request waits for the result; a slower server's steps are then shown as
    # they come (mailserver/test_runs.py), the web worker free for other requests meanwhile.
    "TEST_MAIL_WAIT_SECONDS": 1.0,
    # Refuse SMTP servers, token endpoints and Graph on loopback, private, link-local, CGNAT, metadata or
    # unspecified addresses (an organization admin must not probe this machine's network), except:
    "SMTP_DENY_PRIVATE_HOSTS": True,
    "SMTP_ALLOWED_HOSTS": "",  # comma-separated host names, IP addresses or CIDR ranges (a local relay)
    "SMTP_EHLO_NAME": None,  # None: the host of BASE_URL, else this machine's fully qualified name
    "RATELIMIT_STORAGE_URI": "database://",  # see web/rate_limits.py
    "PROXY_FIX_X_FOR": 0,  # proxies in front whose X-Forwarded-For / -Proto to trust (see proxy.py)
    "PROXY_FIX_X_PROTO": 0,
    "RESET_LIMIT_PER_ACCOUNT": "3 per 15 minutes",
    "RESET_LIMIT_PER_CLIENT": "10 per 5 minutes",
    "LOGIN_LIMIT_PER_CLIENT": "30 per 5 minutes",
    "API_AUTH_LIMIT_PER_CLIENT": "20 per 5 minutes",  # failed API authentications
    "TEST_MAIL_LIMIT_PER_ADMIN": "10 per 10 minutes",  # Send test mail, per admin of an organization
    "TEST_MAIL_LIMIT_PER_ORGANIZATION": "30 per hour",  # Send test mail, all admins of one organization
    "DEFAULT_LOCALE": "en",
    "WORKER_POLL_SECONDS": 1.0,
    # Delivery workers (outbox/worker.py, outbox/pool.py; docs/deploy.md "Delivery workers").
    "OUTBOX_LEASE_SECONDS": 12,  # a killed worker's mail is claimed again this long after its last heartbeat
    "OUTBOX_HEARTBEAT_SECONDS": None,  # how often a worker renews its leases; None: a quarter of the lease
    "OUTBOX_CONCURRENCY": 4,  # organizations one worker delivers to at once, one connection each
    "OUTBOX_ORGANIZATION_SECONDS": 300,  # the longest one organization's batch may hold its connection
    "OUTBOX_RETRY_BASE_SECONDS": 30,
    "OUTBOX_RETRY_MAX_SECONDS": 3600,
    "OUTBOX_GIVE_UP_SECONDS": 86400,
    "SESSION_IDLE_TIMEOUT": 1800,  # seconds without a request after which a login ends (auth/sessions.py)
    "SESSION_MAX_AGE": 43200,  # seconds after which a login ends, however active
    "SESSION_COOKIE_SAMESITE": "Lax",
    "SESSION_COOKIE_HTTPONLY": True,
    "REMEMBER_COOKIE_HTTPONLY": True,
    "WTF_CSRF_TIME_LIMIT": None,
    # Retention (store/retention.py): days, or "never". Bodies: 0 erases them at the first pass once sent.
    "RETENTION_DELIVERY_DAYS": 90,
    "RETENTION_AUDIT_DAYS": 400,
    "RETENTION_SENT_BODY_DAYS": 0,
    "RETENTION_FAILED_BODY_DAYS": 7,
    "RETENTION_ENDED_DAYS": 1,  # reset links and logins, after they end
    "PRUNE_INTERVAL_SECONDS": 300,  # how often the outbox worker prunes; 0: never (run `exastro-mail prune`)
    "PRUNE_BATCH": 500,  # rows per transaction
    "PRUNE_BUDGET_SECONDS": 1.0,  # the most a worker's pass takes before it goes back to mail
    # Every form fits in 1 MiB (the trusted CA field, the largest, takes 64 KiB); the API sets its own.
    "MAX_CONTENT_LENGTH": 1024 * 1024,
    # Runtime: a hanging database, metrics (store/timeouts.py, web/errors.py, web/metrics.py).
    "DATABASE_TIMEOUT": 5.0,  # seconds a connection attempt, a query, or a page's queries together may wait
    # ... and a query of init-db, export or import, which on millions of rows takes minutes
    "MAINTENANCE_DATABASE_TIMEOUT": 3600.0,
    "DATABASE_ERROR_LOG_SECONDS": 60,  # repeated database errors: one log line per this many seconds
    "METRICS_TOKEN": None,  # nosec B105  # None: no /metrics; else the bearer token scrapers send
}


# The embedded database's file in the instance folder, when EXASTRO_MAIL_DATABASE_URL names none.
SQLITE_FILE = "exastro-mail.sqlite3"


def instance_path_from_env() -> str | None:
    """The instance folder named by EXASTRO_MAIL_INSTANCE_PATH, if any."""
    value = os.environ.get(f"{ENV_PREFIX}_INSTANCE_PATH")
    return os.path.abspath(value) if value else None


def load(app, overrides: dict | None) -> None:
    """Fill app.config from defaults, the environment, then explicit overrides; derive the rest."""
    app.config.update(DEFAULTS)
    app.config.from_prefixed_env(ENV_PREFIX)
    if overrides:
        app.config.update(overrides)
    instance = Path(app.instance_path)
    instance.mkdir(mode=0o700, parents=True, exist_ok=True)  # it holds the keys and the SQLite file

    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = _key_file(instance / "secret_key", lambda: secrets.token_hex(32))
    if not app.config.get("ENCRYPTION_KEY"):
        app.config["ENCRYPTION_KEY"] = _key_file(
            instance / "encryption_key", lambda: Fernet.generate_key().decode()
        )
    checks.check_encryption_key(app.config["ENCRYPTION_KEY"])
    if app.config["ENCRYPTION_KEY"] == app.config["SECRET_KEY"]:
        raise ConfigError("EXASTRO_MAIL_ENCRYPTION_KEY must differ from EXASTRO_MAIL_SECRET_KEY.")

    if not app.config.get("DATABASE_URL"):
        app.config["DATABASE_URL"] = f"sqlite:///{instance / SQLITE_FILE}"
    base_url = app.config.get("BASE_URL")
    if base_url:
        base_url = str(base_url).rstrip("/")
        if not base_url.startswith(("http://", "https://")):
            raise ConfigError("EXASTRO_MAIL_BASE_URL must start with http:// or https://.")
        app.config["BASE_URL"] = base_url
        app.config["SESSION_COOKIE_SECURE"] = base_url.startswith("https://")
    app.config["PASSWORD_RESET_TTL"] = int(app.config["PASSWORD_RESET_TTL"])
    checks.check_delivery_workers(app.config)
    for name in ("SESSION_IDLE_TIMEOUT", "SESSION_MAX_AGE"):
        app.config[name] = checks.positive_seconds(name, app.config[name])
    app.config["SMTP_TIMEOUT"] = float(app.config["SMTP_TIMEOUT"])
    wait = app.config["TEST_MAIL_WAIT_SECONDS"]
    app.config["TEST_MAIL_WAIT_SECONDS"] = checks.seconds_from_zero("TEST_MAIL_WAIT_SECONDS", wait)
    app.config["SMTP_DENY_PRIVATE_HOSTS"] = checks.flag(app.config["SMTP_DENY_PRIVATE_HOSTS"])
    app.config["SMTP_ALLOWED_HOSTS"] = checks.allowed_hosts(app.config["SMTP_ALLOWED_HOSTS"])
    if app.config.get("SMTP_EHLO_NAME"):
        checks.check_ehlo_name(app.config["SMTP_EHLO_NAME"])
    for name in checks.RATE_LIMITS:
        checks.check_rate_limit(name, app.config[name])
    checks.check_password_hash_method(app.config["PASSWORD_HASH_METHOD"])
    checks.load_runtime(app.config)
    checks.check_retention(app.config)


def _key_file(path: Path, generate) -> str:
    """Read a generated key from the instance folder, creating it (mode 0600) on first start."""
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    value = generate()
    # Written beside, then linked into place: a second process never reads a half-written key.
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w") as handle:  # mkstemp already made it 0600
            handle.write(value + "\n")
        try:
            os.link(temporary, path)
        except FileExistsError:
            return path.read_text().strip()
    finally:
        os.unlink(temporary)
    return value


__all__ = [
    "DEFAULTS",
    "ENV_PREFIX",
    "SQLITE_FILE",
    "ConfigError",
    "allowed_hosts",
    "instance_path_from_env",
    "load",
]
