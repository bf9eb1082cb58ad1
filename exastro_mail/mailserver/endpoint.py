"""Where and how to connect for settings: one endpoint for the outbox's delivery and for the test mail."""

import contextlib
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from ..smtp.endpoint import SmtpEndpoint, default_ehlo_name, ehlo_name_for
from ..store import secretbox


@dataclass(frozen=True)
class SmtpOptions:
    """The install-wide SMTP configuration every delivery (a test mail too) runs under."""

    timeout: float
    ca_file: str | None = None
    deny_private_hosts: bool = False
    ehlo_name: str | None = None  # None: smtp's default_ehlo_name()

    @classmethod
    def from_config(cls, config) -> "SmtpOptions":
        """Read EXASTRO_MAIL_SMTP_TIMEOUT, _SMTP_CA_FILE, _SMTP_DENY_PRIVATE_HOSTS and _SMTP_EHLO_NAME."""
        return cls(
            float(config["SMTP_TIMEOUT"]),
            config.get("SMTP_CA_FILE"),
            bool(config.get("SMTP_DENY_PRIVATE_HOSTS")),
            ehlo_name(config),
        )


def ehlo_name(config) -> str:
    """The one name the test mail and delivery give in EHLO: EXASTRO_MAIL_SMTP_EHLO_NAME, else the host
    of EXASTRO_MAIL_BASE_URL (the name this install is known by), else this machine's full name."""
    if config.get("SMTP_EHLO_NAME"):
        return config["SMTP_EHLO_NAME"]
    host = urlsplit(config.get("BASE_URL") or "").hostname
    if host:
        with contextlib.suppress(UnicodeError):
            return ehlo_name_for(host)
    return default_ehlo_name()


def endpoint_for(values: Mapping, password: str | None, options: SmtpOptions) -> SmtpEndpoint:
    """The endpoint of settings values (checked, or stored_values()); the user only with authentication on."""
    authenticate = bool(values.get("authentication_enable"))
    return SmtpEndpoint(
        host=values["smtp_host"],
        port=values["smtp_port"],
        encryption=values["encryption"],
        username=(values.get("authentication_user") or None) if authenticate else None,
        password=password if authenticate else None,
        timeout=options.timeout,
        ca_file=options.ca_file,
        ca_pem=values.get("trusted_ca_pem"),
        deny_private_hosts=options.deny_private_hosts,
        ehlo_name=options.ehlo_name,
    )


def stored_password(settings) -> str | None:
    """The saved password, opened, when authentication is on (SecretUnreadable if it cannot be)."""
    if settings.authentication_enable and settings.authentication_password_sealed:
        return secretbox.unseal(settings.authentication_password_sealed)
    return None
