"""Where and how to connect for settings: one endpoint for the outbox's delivery and for the test mail,
with the credentials it uses (a password, or an OAuth 2.0 token source) and the transport it goes
through (SMTP, or Microsoft Graph)."""

import contextlib
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from flask import current_app

from ..config import allowed_hosts
from ..oauth import (
    ClientCredentials,
    HttpsClient,
    ServiceAccount,
    TokenCache,
    TokenSource,
    parse_service_account_key,
    trust_context,
)
from ..oauth.delivery import Bearer, GraphSession
from ..smtp.endpoint import ENCRYPTION_SSL, SmtpEndpoint, default_ehlo_name, ehlo_name_for
from ..smtp.hosts import HostPolicy
from ..smtp.transport import SmtpSession
from ..store import secretbox
from .fields import (
    FIELDS,
    METHOD_CLIENT_CREDENTIALS,
    METHOD_PASSWORD,
    METHOD_SERVICE_ACCOUNT,
    SECRET_FIELDS,
    TRANSPORT_GRAPH,
    used,
)


@dataclass(frozen=True)
class SmtpOptions:
    """The install-wide SMTP configuration every delivery (a test mail too) runs under."""

    timeout: float
    ca_file: str | None = None
    host_policy: HostPolicy = HostPolicy()
    ehlo_name: str | None = None  # None: smtp's default_ehlo_name()

    @classmethod
    def from_config(cls, config) -> "SmtpOptions":
        """Read EXASTRO_MAIL_SMTP_TIMEOUT, _SMTP_CA_FILE, _SMTP_DENY_PRIVATE_HOSTS, _SMTP_ALLOWED_HOSTS
        and _SMTP_EHLO_NAME."""
        return cls(
            float(config["SMTP_TIMEOUT"]), config.get("SMTP_CA_FILE"), host_policy(config), ehlo_name(config)
        )


def host_policy(config) -> HostPolicy:
    """The hosts SMTP servers, token endpoints and Graph may be on: public addresses only unless
    EXASTRO_MAIL_SMTP_DENY_PRIVATE_HOSTS is off, plus EXASTRO_MAIL_SMTP_ALLOWED_HOSTS."""
    deny_private = bool(config.get("SMTP_DENY_PRIVATE_HOSTS", True))
    return HostPolicy.allowing(allowed_hosts(config.get("SMTP_ALLOWED_HOSTS")), deny_private=deny_private)


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


class StoredSecretUnreadable(secretbox.SecretUnreadable):
    """A stored secret cannot be opened with the configured key; .field names it."""

    # Kept in English (the delivery log, the audit log); what to type again, and its name.
    _NAMES = {
        "authentication_password": ("SMTP password", "password"),
        "oauth2_client_secret": ("OAuth 2.0 client secret", "client secret"),
        "oauth2_service_account_key": ("service account key", "key"),
    }

    def __init__(self, field: str):
        name, again = self._NAMES[field]
        super().__init__(
            f"The stored {name} cannot be decrypted with EXASTRO_MAIL_ENCRYPTION_KEY; "
            f"enter the {again} again."
        )
        self.field = field


def method_of(values: Mapping) -> str | None:
    """The authentication method the values use (None without authentication)."""
    if not values.get("authentication_enable"):
        return None
    return values.get("authentication_method") or METHOD_PASSWORD


def endpoint_for(
    values: Mapping, password: str | None, options: SmtpOptions, *, bearer: Bearer | None = None
) -> SmtpEndpoint:
    """The endpoint of settings values (checked, or stored_values()); the user only with authentication on.

    With a bearer the server is sent AUTH XOAUTH2 with its token; with Microsoft Graph as the transport
    the endpoint is Graph's (HTTPS on port 443)."""
    authenticate = bool(values.get("authentication_enable"))
    common = {
        "username": (values.get("authentication_user") or None) if authenticate else None,
        "password": password if authenticate and bearer is None else None,
        "timeout": options.timeout,
        "ca_file": options.ca_file,
        "ca_pem": values.get("trusted_ca_pem"),
        "host_policy": options.host_policy,
        "bearer": bearer if authenticate else None,
        "ehlo_name": options.ehlo_name,
    }
    if values.get("transport") == TRANSPORT_GRAPH:
        graph = urlsplit(values["graph_url"])
        return SmtpEndpoint(
            host=graph.hostname,
            port=graph.port or 443,
            encryption=ENCRYPTION_SSL,
            graph_url=values["graph_url"],
            **common,
        )
    return SmtpEndpoint(
        host=values["smtp_host"], port=values["smtp_port"], encryption=values["encryption"], **common
    )


def token_source(values: Mapping, secrets: Mapping) -> TokenSource | None:
    """The OAuth 2.0 token source of the values and their secrets, or None for a password or none."""
    method = method_of(values)
    if method == METHOD_CLIENT_CREDENTIALS:
        return ClientCredentials(
            token_url=values["oauth2_token_url"],
            client_id=values["oauth2_client_id"],
            client_secret=secrets.get("oauth2_client_secret") or "",
            scope=values.get("oauth2_scope") or "",
        )
    if method == METHOD_SERVICE_ACCOUNT:
        key = parse_service_account_key(secrets.get("oauth2_service_account_key") or "")
        return ServiceAccount(key, mailbox=values.get("authentication_user") or "")
    return None


def https_client(values: Mapping, options: SmtpOptions) -> HttpsClient:
    """How token endpoints and Graph are reached: the trust, timeout and host policy of SMTP servers.

    Raises ValueError if the trusted CA certificates cannot be loaded."""
    try:
        context = trust_context(options.ca_file, values.get("trusted_ca_pem"))
    except (OSError, ValueError) as error:
        raise ValueError(f"the trusted CA certificates could not be loaded: {error}") from None
    return HttpsClient(context, timeout=options.timeout, host_policy=options.host_policy)


def delivery_endpoint(
    values: Mapping, secrets: Mapping, options: SmtpOptions, *, organization_id, cache: TokenCache
) -> SmtpEndpoint:
    """The endpoint with its credentials: the password, or a bearer whose tokens the cache keeps for
    the organization."""
    source = token_source(values, secrets)
    bearer = None
    if source is not None:
        bearer = Bearer(cache, str(organization_id), source, https_client(values, options))
    return endpoint_for(values, secrets.get("authentication_password"), options, bearer=bearer)


def open_session(endpoint: SmtpEndpoint, deadline: float | None, on_step=None):
    """The session that delivers through the endpoint: Microsoft Graph's, or SMTP's."""
    if endpoint.graph_url:
        return GraphSession(endpoint.graph_url, endpoint.username or "", endpoint.bearer, on_step=on_step)
    return SmtpSession(endpoint, deadline, on_step=on_step)


def process_token_cache() -> TokenCache:
    """The tokens this process keeps, per organization, for the app it serves."""
    return current_app.extensions.setdefault("exastro_mail.oauth_tokens", TokenCache())


def stored_secrets(settings) -> dict[str, str]:
    """The stored secrets the settings use, opened (StoredSecretUnreadable names one that cannot be)."""
    values = {name: getattr(settings, name) for name in FIELDS if not FIELDS[name].write_only}
    opened = {}
    for name in SECRET_FIELDS:
        sealed = getattr(settings, FIELDS[name].column)
        if sealed and used(name, values):
            try:
                opened[name] = secretbox.unseal(sealed)
            except secretbox.SecretUnreadable:
                raise StoredSecretUnreadable(name) from None
    return opened
