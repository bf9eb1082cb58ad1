"""Where and how to connect for settings: one endpoint for the outbox's delivery and for the test mail."""

from collections.abc import Mapping
from dataclasses import dataclass

from ..smtp.endpoint import SmtpEndpoint
from ..store import secretbox


@dataclass(frozen=True)
class SmtpOptions:
    """The install-wide SMTP configuration every delivery (a test mail too) runs under."""

    timeout: float
    ca_file: str | None = None
    deny_private_hosts: bool = False

    @classmethod
    def from_config(cls, config) -> "SmtpOptions":
        """Read EXASTRO_MAIL_SMTP_TIMEOUT, _SMTP_CA_FILE and _SMTP_DENY_PRIVATE_HOSTS."""
        return cls(
            float(config["SMTP_TIMEOUT"]),
            config.get("SMTP_CA_FILE"),
            bool(config.get("SMTP_DENY_PRIVATE_HOSTS")),
        )


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
    )


def stored_password(settings) -> str | None:
    """The saved password, opened, when authentication is on (SecretUnreadable if it cannot be)."""
    if settings.authentication_enable and settings.authentication_password_sealed:
        return secretbox.unseal(settings.authentication_password_sealed)
    return None
