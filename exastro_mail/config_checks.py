"""The checks of each setting, at start-up: a bad value stops the start with a message naming it."""

import ipaddress
import re

from cryptography.fernet import Fernet
from limits import parse as parse_limit


class ConfigError(RuntimeError):
    """Raised at start-up when configuration is unusable; the message says which setting."""


def load_runtime(config) -> None:
    for name in ("DATABASE_TIMEOUT", "MAINTENANCE_DATABASE_TIMEOUT"):
        config[name] = _positive_number(name, config[name])
    config["DATABASE_ERROR_LOG_SECONDS"] = _positive_number(
        "DATABASE_ERROR_LOG_SECONDS", config["DATABASE_ERROR_LOG_SECONDS"]
    )
    # from_prefixed_env reads JSON: a token of digits would arrive as a number
    token = str(config["METRICS_TOKEN"]) if config.get("METRICS_TOKEN") not in (None, "") else None
    config["METRICS_TOKEN"] = token
    if token is not None and len(token) < 16:
        raise ConfigError("EXASTRO_MAIL_METRICS_TOKEN must be 16 characters or more (a random string).")


RATE_LIMITS = (
    "RESET_LIMIT_PER_ACCOUNT",
    "RESET_LIMIT_PER_CLIENT",
    "LOGIN_LIMIT_PER_CLIENT",
    "API_AUTH_LIMIT_PER_CLIENT",
    "TEST_MAIL_LIMIT_PER_ADMIN",
    "TEST_MAIL_LIMIT_PER_ORGANIZATION",
)


def check_delivery_workers(config) -> None:
    """The outbox worker's settings: positive numbers, and a lease that outlasts a few heartbeats."""
    if config.get("OUTBOX_HEARTBEAT_SECONDS") in (None, ""):
        config["OUTBOX_HEARTBEAT_SECONDS"] = float(config["OUTBOX_LEASE_SECONDS"]) / 4
    for name in ("OUTBOX_LEASE_SECONDS", "OUTBOX_HEARTBEAT_SECONDS", "OUTBOX_ORGANIZATION_SECONDS"):
        config[name] = _positive_number(name, config[name])
    concurrency = config["OUTBOX_CONCURRENCY"]
    if not str(concurrency).strip().isdigit() or int(concurrency) < 1:
        raise ConfigError(
            f"EXASTRO_MAIL_OUTBOX_CONCURRENCY must be a whole number, 1 or more, not {concurrency!r}."
        )
    config["OUTBOX_CONCURRENCY"] = int(concurrency)
    if config["OUTBOX_HEARTBEAT_SECONDS"] * 2 > config["OUTBOX_LEASE_SECONDS"]:
        raise ConfigError(
            "EXASTRO_MAIL_OUTBOX_HEARTBEAT_SECONDS must be at most half of "
            "EXASTRO_MAIL_OUTBOX_LEASE_SECONDS: a lease must outlast a missed heartbeat, or another "
            "worker would send the same mail."
        )


def _positive_number(name: str, value) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = 0.0
    if not number > 0:
        raise ConfigError(f"EXASTRO_MAIL_{name} must be a number above 0, not {value!r}.")
    return number


def check_rate_limit(name: str, value) -> None:
    try:
        parse_limit(str(value))
    except ValueError:
        raise ConfigError(
            f"EXASTRO_MAIL_{name} must be a rate limit such as '10 per 5 minutes', not {value!r}."
        ) from None


RETENTION_DAYS = ("DELIVERY", "AUDIT", "SENT_BODY", "FAILED_BODY", "ENDED")


def check_retention(config) -> None:
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


def check_password_hash_method(method) -> None:
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


def check_ehlo_name(value) -> None:
    value = str(value)
    if not (_EHLO_NAME.fullmatch(value) or _ADDRESS_LITERAL.fullmatch(value)):
        raise ConfigError(
            "EXASTRO_MAIL_SMTP_EHLO_NAME must be a domain name such as mailer.example.com (punycode for "
            f"an internationalized one) or an address literal such as [192.0.2.1], not {value!r}."
        )


def allowed_hosts(value) -> tuple[str, ...]:
    """EXASTRO_MAIL_SMTP_ALLOWED_HOSTS as a tuple of host names (lower case), IP addresses and networks."""
    entries = value.split(",") if isinstance(value, str) else list(value or ())
    allowed = []
    for entry in (str(entry).strip() for entry in entries):
        if not entry:
            continue
        try:
            allowed.append(str(ipaddress.ip_network(entry.strip("[]"))))
            continue
        except ValueError as error:
            problem = str(error) if "/" in entry or entry.replace(".", "").isdigit() else None
        name = entry.rstrip(".").lower()
        if problem or not _EHLO_NAME.fullmatch(name):
            raise ConfigError(
                "EXASTRO_MAIL_SMTP_ALLOWED_HOSTS takes comma-separated host names, IP addresses or CIDR "
                f"ranges such as 127.0.0.1, 10.0.0.0/8 or relay.internal; {entry!r} is none of them"
                + (f" ({problem})." if problem else ".")
            )
        allowed.append(name)
    return tuple(allowed)


def seconds_from_zero(name: str, value) -> float:
    """A number of seconds, 0 or more."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = -1.0
    if not number >= 0:
        raise ConfigError(f"EXASTRO_MAIL_{name} must be a number of seconds (0 or more), not {value!r}.")
    return number


def positive_seconds(name: str, value) -> int:
    try:
        seconds = int(value)
    except (TypeError, ValueError):
        seconds = 0
    if seconds < 1:
        raise ConfigError(f"EXASTRO_MAIL_{name} must be a number of seconds (1 or more), not {value!r}.")
    return seconds


def flag(value) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in {"1", "true", "yes", "on"}
    return bool(value)


def check_encryption_key(key) -> None:
    try:
        Fernet(key)
    except (ValueError, TypeError) as error:
        raise ConfigError(
            "EXASTRO_MAIL_ENCRYPTION_KEY is not a valid key (32 url-safe base64-encoded bytes, "
            "as made by `python -c 'from cryptography.fernet import Fernet; "
            "print(Fernet.generate_key().decode())'`)."
        ) from error
