"""Configuration: defaults in code, EXASTRO_MAIL_* environment variables, keys in the instance folder."""

import os
import re
import secrets
import tempfile
from pathlib import Path

from cryptography.fernet import Fernet
from limits import parse as parse_limit

ENV_PREFIX = "EXASTRO_MAIL"

DEFAULTS = {
    "DATABASE_URL": None,  # None: SQLite file in the instance folder
    "BASE_URL": None,
    "PASSWORD_RESET_TTL": 1800,  # nosec B105  # a lifetime in seconds, not a password
    # werkzeug's method string: scrypt[:n:r:p] or pbkdf2[:hash:iterations]
    "PASSWORD_HASH_METHOD": "scrypt",  # nosec B105  # the name of a hash function, not a password
    "SMTP_TIMEOUT": 10.0,
    "SMTP_CA_FILE": None,
    "SMTP_DENY_PRIVATE_HOSTS": False,
    "SMTP_EHLO_NAME": None,  # None: the host of BASE_URL, else this machine's fully qualified name
    "RATELIMIT_STORAGE_URI": "database://",  # see web/rate_limits.py
    "PROXY_FIX_X_FOR": 0,  # proxies in front whose X-Forwarded-For / -Proto to trust (see proxy.py)
    "PROXY_FIX_X_PROTO": 0,
    "RESET_LIMIT_PER_ACCOUNT": "3 per 15 minutes",
    "RESET_LIMIT_PER_CLIENT": "10 per 5 minutes",
    "LOGIN_LIMIT_PER_CLIENT": "30 per 5 minutes",
    "API_AUTH_LIMIT_PER_CLIENT": "20 per 5 minutes",  # failed API authentications
    "DEFAULT_LOCALE": "en",
    "WORKER_POLL_SECONDS": 1.0,
    "OUTBOX_LEASE_SECONDS": 120,
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
}


class ConfigError(RuntimeError):
    """Raised at start-up when configuration is unusable; the message says which setting."""


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
    _check_encryption_key(app.config["ENCRYPTION_KEY"])
    if app.config["ENCRYPTION_KEY"] == app.config["SECRET_KEY"]:
        raise ConfigError("EXASTRO_MAIL_ENCRYPTION_KEY must differ from EXASTRO_MAIL_SECRET_KEY.")

    if not app.config.get("DATABASE_URL"):
        app.config["DATABASE_URL"] = f"sqlite:///{instance / 'exastro-mail.sqlite3'}"
    base_url = app.config.get("BASE_URL")
    if base_url:
        base_url = str(base_url).rstrip("/")
        if not base_url.startswith(("http://", "https://")):
            raise ConfigError("EXASTRO_MAIL_BASE_URL must start with http:// or https://.")
        app.config["BASE_URL"] = base_url
        app.config["SESSION_COOKIE_SECURE"] = base_url.startswith("https://")
    for name in ("PASSWORD_RESET_TTL", "OUTBOX_LEASE_SECONDS"):
        app.config[name] = int(app.config[name])
    for name in ("SESSION_IDLE_TIMEOUT", "SESSION_MAX_AGE"):
        app.config[name] = _positive_seconds(name, app.config[name])
    app.config["SMTP_TIMEOUT"] = float(app.config["SMTP_TIMEOUT"])
    app.config["SMTP_DENY_PRIVATE_HOSTS"] = _flag(app.config["SMTP_DENY_PRIVATE_HOSTS"])
    if app.config.get("SMTP_EHLO_NAME"):
        _check_ehlo_name(app.config["SMTP_EHLO_NAME"])
    for name in RATE_LIMITS:
        _check_rate_limit(name, app.config[name])
    _check_password_hash_method(app.config["PASSWORD_HASH_METHOD"])
    _check_retention(app.config)


RATE_LIMITS = (
    "RESET_LIMIT_PER_ACCOUNT",
    "RESET_LIMIT_PER_CLIENT",
    "LOGIN_LIMIT_PER_CLIENT",
    "API_AUTH_LIMIT_PER_CLIENT",
)


def _check_rate_limit(name: str, value) -> None:
    try:
        parse_limit(str(value))
    except ValueError:
        raise ConfigError(
            f"EXASTRO_MAIL_{name} must be a rate limit such as '10 per 5 minutes', not {value!r}."
        ) from None


RETENTION_DAYS = ("DELIVERY", "AUDIT", "SENT_BODY", "FAILED_BODY", "ENDED")


def _check_retention(config) -> None:
    for name in RETENTION_DAYS:
        value = str(config[f"RETENTION_{name}_DAYS"]).strip().lower()
        if value != "never" and not value.isdigit():
            raise ConfigError(
                f"EXASTRO_MAIL_RETENTION_{name}_DAYS must be a number of days (0 or more) or never, "
                f"not {config[f'RETENTION_{name}_DAYS']!r}."
            )
    for name, kind in (
        ("PRUNE_INTERVAL_SECONDS", float),
        ("PRUNE_BATCH", int),
        ("PRUNE_BUDGET_SECONDS", float),
    ):
        given = config[name]
        try:
            config[name] = kind(given)
        except (TypeError, ValueError):
            config[name] = -1
        if config[name] < 0 or (name == "PRUNE_BATCH" and config[name] < 1):
            raise ConfigError(f"EXASTRO_MAIL_{name} must be a positive number, not {given!r}.")


def _check_password_hash_method(method) -> None:
    # werkzeug refuses an unknown method only when it hashes; a hash here would cost every start.
    name, *parameters = str(method).split(":")
    known = name in ("scrypt", "pbkdf2")
    if not known or not all(part.isdigit() or part.startswith("sha") for part in parameters):
        raise ConfigError(
            f"EXASTRO_MAIL_PASSWORD_HASH_METHOD must be scrypt or pbkdf2 (werkzeug's method string), "
            f"not {method!r}."
        )


# A domain name (ASCII: punycode for an internationalized one) or an address literal ([192.0.2.1],
# [IPv6:2001:db8::1]), as RFC 5321 wants after EHLO.
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_EHLO_NAME = re.compile(rf"(?=.{{1,253}}$){_LABEL}(?:\.{_LABEL})*")
_ADDRESS_LITERAL = re.compile(r"\[(?:IPv6:[0-9A-Fa-f:.]+|[0-9.]+)\]")


def _check_ehlo_name(value) -> None:
    value = str(value)
    if not (_EHLO_NAME.fullmatch(value) or _ADDRESS_LITERAL.fullmatch(value)):
        raise ConfigError(
            "EXASTRO_MAIL_SMTP_EHLO_NAME must be a domain name such as mailer.example.com (punycode for "
            f"an internationalized one) or an address literal such as [192.0.2.1], not {value!r}."
        )


def _positive_seconds(name: str, value) -> int:
    try:
        seconds = int(value)
    except (TypeError, ValueError):
        seconds = 0
    if seconds < 1:
        raise ConfigError(f"EXASTRO_MAIL_{name} must be a number of seconds (1 or more), not {value!r}.")
    return seconds


def _flag(value) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in {"1", "true", "yes", "on"}
    return bool(value)


def _check_encryption_key(key) -> None:
    try:
        Fernet(key)
    except (ValueError, TypeError) as error:
        raise ConfigError(
            "EXASTRO_MAIL_ENCRYPTION_KEY is not a valid key (32 url-safe base64-encoded bytes, "
            "as made by `python -c 'from cryptography.fernet import Fernet; "
            "print(Fernet.generate_key().decode())'`)."
        ) from error


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
