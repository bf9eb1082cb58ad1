"""The test mail in words: each step named in the reader's language, and a hint where one fits.

smtp/ reports facts (the step, the kind of failure, the server's code); HINTS maps them to advice.
"""

from dataclasses import dataclass

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from ..i18n import N_
from ..smtp.diagnose import NOT_USED, Diagnosis, Step
from ..smtp.endpoint import ENCRYPTION_NONE, ENCRYPTION_SSL, ENCRYPTION_STARTTLS, SmtpEndpoint
from ..smtp.errors import STEP_LABELS, DeliveryError
from .ports import port_hint

# In English wherever they are kept (the audit log, the saved test result); shown with _(name).
STEP_NAMES = {
    **STEP_LABELS,
    "token": N_("Token"),
    "resolve": N_("Name resolution"),
    "connect": N_("TCP connect"),
    "sendmail": N_("Graph sendMail"),
    "accepted": N_("Accepted"),
}
# The one detail of a step that is ours (smtp.diagnose.NOT_USED); the others are the server's words or
# technical values, shown as they are.
NOT_USED_SHOWN = N_("not used")

_NOT_SSL = (ENCRYPTION_NONE, ENCRYPTION_STARTTLS)
# Failures that mean the client and server disagree about when TLS starts.
_WRONG_TLS_KINDS = (
    "timeout",
    "disconnected",
    "tls_handshake",
    "reply",
    "unsupported",
    "starttls_unavailable",
    "starttls_refused",
)


@dataclass(frozen=True)
class Hint:
    """Advice for the failures that match every condition given (None: any)."""

    advice: object  # a lazy string with %(host)s and %(port)s, or a function of the endpoint
    kinds: tuple[str, ...] | None = None
    steps: tuple[str, ...] | None = None
    encryptions: tuple[str, ...] | None = None
    permanent: bool | None = None
    smtp_code: int | None = None
    enhanced_class: str | None = None  # the start of the reply's enhanced status code, such as "5.7."
    offered: str | None = None  # an extension the server offered in its last EHLO reply ("auth")
    authenticated: bool | None = None  # whether the settings use AUTH
    provider_codes: tuple[str, ...] | None = None  # AADSTS7000215, unauthorized_client, ErrorAccessDenied
    http_statuses: tuple[int, ...] | None = None
    reply_contains: tuple[str, ...] | None = None  # any of these in the reply (enhanced codes: 5.7.139)

    def matches(self, endpoint: SmtpEndpoint, error: DeliveryError) -> bool:
        """Whether this failure meets every condition."""
        wanted = (
            (self.kinds, error.kind),
            (self.steps, error.step),
            (self.encryptions, endpoint.encryption),
            (self.provider_codes, error.provider_code),
            (self.http_statuses, error.http_status),
        )
        if any(allowed is not None and value not in allowed for allowed, value in wanted):
            return False
        if self.reply_contains is not None and not any(part in error.reason for part in self.reply_contains):
            return False
        return all(
            (
                self.permanent is None or error.permanent == self.permanent,
                self.smtp_code is None or error.smtp_code == self.smtp_code,
                self.enhanced_class is None or (error.enhanced_code or "").startswith(self.enhanced_class),
                self.offered is None or self.offered in error.extensions,
                self.authenticated is None or bool(endpoint.username) == self.authenticated,
            )
        )

    def text(self, endpoint: SmtpEndpoint) -> str | None:
        """The advice in the request's language."""
        if callable(self.advice):
            return self.advice(endpoint)
        return str(self.advice) % {"host": endpoint.host, "port": endpoint.port}


def _port_advice(endpoint: SmtpEndpoint) -> str | None:
    return port_hint(endpoint.port, endpoint.encryption)


# OAuth 2.0 and Microsoft Graph: what the provider's code means, and what to change in its console.
OAUTH_HINTS = (
    Hint(
        _l("The client secret is wrong or expired. Make a new one in Entra ID (Certificates & secrets)."),
        provider_codes=("AADSTS7000215", "AADSTS7000222"),
    ),
    Hint(
        _l("There is no app with this client ID in this tenant: check the client ID and the tenant."),
        provider_codes=("AADSTS700016",),
    ),
    Hint(
        _l("There is no such tenant: check the tenant ID or domain in the token URL."),
        provider_codes=("AADSTS90002",),
    ),
    Hint(
        _l("The scope is not valid; for SMTP it is https://outlook.office365.com/.default."),
        provider_codes=("AADSTS70011", "invalid_scope"),
    ),
    Hint(
        _l(
            "Domain-wide delegation is not granted to this service account for the scope "
            "https://mail.google.com/ (Google Admin console: Security, API controls)."
        ),
        provider_codes=("unauthorized_client",),
        steps=("token",),
    ),
    Hint(
        _l("The token endpoint refused the credentials: check the client ID and the client secret or key."),
        provider_codes=("invalid_client", "invalid_grant"),
    ),
    Hint(
        _l("The token endpoint is busy or unavailable; the outbox tries again later."),
        kinds=("token_refused", "token_timeout", "token_connection"),
        permanent=False,
    ),
    Hint(
        _l(
            "The token endpoint's certificate did not verify; if it comes from a private CA, add that CA as "
            "the Trusted CA certificate."
        ),
        kinds=("token_certificate", "graph_certificate"),
    ),
    Hint(
        _l("This installation only allows token endpoints and Graph on public addresses."),
        kinds=("token_forbidden_host", "graph_forbidden_host"),
    ),
    Hint(
        _l(
            "The server did not take the token: SMTP AUTH is disabled for the mailbox, or the app has no "
            "SMTP.SendAsApp permission or no access to the mailbox (Exchange Online: New-ServicePrincipal, "
            "Add-MailboxPermission)."
        ),
        kinds=("xoauth2_rejected",),
        reply_contains=("5.7.3",),
    ),
    Hint(
        _l(
            "The server did not take the token: check that the mailbox is the user the service account "
            "acts as, and that its delegation includes https://mail.google.com/."
        ),
        kinds=("xoauth2_rejected",),
    ),
    Hint(
        _l(
            "The server does not offer AUTH XOAUTH2 here; OAuth 2.0 needs STARTTLS or SSL/TLS and a "
            "server that takes it."
        ),
        kinds=("auth_unavailable",),
        reply_contains=("XOAUTH2",),
    ),
    Hint(
        _l(
            "Mail.Send was not granted: give the app the Mail.Send application permission (with admin "
            "consent), and allow it this mailbox if an access policy limits it."
        ),
        steps=("sendmail",),
        http_statuses=(403,),
    ),
    Hint(
        _l("Graph did not take the token: check that the scope is https://graph.microsoft.com/.default."),
        steps=("sendmail",),
        http_statuses=(401,),
    ),
    Hint(
        _l("Graph is busy or unavailable; the outbox tries again later."),
        steps=("sendmail",),
        permanent=False,
    ),
    Hint(
        _l(
            "Microsoft 365 no longer takes passwords for SMTP (basic authentication is disabled). Choose "
            "the authentication method OAuth 2.0 (client credentials): see the Microsoft 365 guide."
        ),
        reply_contains=("5.7.139", "5.7.30"),
    ),
)

# The first hint that matches (and has something to say) is given.
HINTS = (
    *OAUTH_HINTS,
    Hint(_l("This installation only allows SMTP servers on public addresses."), kinds=("forbidden_host",)),
    Hint(_l("The host name %(host)s could not be found; check the SMTP server host."), kinds=("resolve",)),
    Hint(
        _l("Nothing accepted connections on port %(port)s of %(host)s; check the host and port."),
        kinds=("refused",),
    ),
    Hint(_l("The Trusted CA certificate could not be read; paste it in PEM format."), kinds=("ca",)),
    Hint(_l("The certificate's names do not include the host %(host)s."), kinds=("certificate_name",)),
    Hint(
        _l(
            "The server's certificate is self-signed or issued by an unknown CA; "
            "add that CA certificate as the Trusted CA certificate."
        ),
        kinds=("certificate_untrusted",),
    ),
    Hint(
        _l("The server's certificate has expired; its administrator must renew it."),
        kinds=("certificate_expired",),
    ),
    Hint(_port_advice, kinds=_WRONG_TLS_KINDS, steps=("ehlo", "tls")),
    Hint(
        _l("The server did not answer with TLS; it may expect STARTTLS or no encryption on this port."),
        kinds=("tls_handshake", "timeout"),
        steps=("tls",),
        encryptions=(ENCRYPTION_SSL,),
    ),
    Hint(
        _l(
            "The server does not start TLS on request on this port; choose SSL/TLS if it expects TLS "
            "from the start (usually port 465), or ask its administrator to enable STARTTLS."
        ),
        kinds=("starttls_unavailable", "starttls_refused"),
    ),
    Hint(
        _l("The server sent no greeting; if it expects TLS from the start, choose SSL/TLS."),
        kinds=("timeout",),
        steps=("ehlo",),
        encryptions=_NOT_SSL,
    ),
    Hint(
        _l("The server did not answer in time; check the host, the port and any firewall in between."),
        kinds=("timeout",),
        steps=("resolve", "connect"),
    ),
    Hint(_l("The server rejected the user name or password."), kinds=("auth_rejected",), permanent=True),
    Hint(
        _l("The server offers no authentication without encryption; choose STARTTLS or SSL/TLS."),
        kinds=("auth_unavailable",),
        encryptions=(ENCRYPTION_NONE,),
    ),
    Hint(
        _l("The server does not offer authentication; clear the user name or check the server settings."),
        kinds=("auth_unavailable",),
    ),
    Hint(
        _l(
            "The server does not offer the authentication methods this app uses (PLAIN or LOGIN); "
            "ask its administrator to enable one of them."
        ),
        kinds=("auth_mechanism",),
    ),
    Hint(
        _l(
            "The server wants the connection encrypted before it takes mail; choose STARTTLS as the "
            "encryption method."
        ),
        smtp_code=530,
        encryptions=(ENCRYPTION_NONE,),
        offered="starttls",
    ),
    Hint(_l("The server requires authentication; set a user name and password."), smtp_code=530),
    Hint(
        _l(
            "This server wants authentication before it relays mail to this recipient; tick With "
            "authentication and set a user name and password."
        ),
        steps=("rcpt",),
        permanent=True,
        enhanced_class="5.7.",
        offered="auth",
        authenticated=False,
    ),
    Hint(_l("The server cannot take addresses with non-ASCII characters."), kinds=("smtputf8_unsupported",)),
    Hint(
        _l(
            "The server refused the sender; check the envelope From address and what the account may send as."
        ),
        kinds=("reply",),
        steps=("mail",),
        permanent=True,
    ),
    Hint(
        _l("The server refused the recipient; check the address, or whether the server relays mail to it."),
        kinds=("reply",),
        steps=("rcpt",),
        permanent=True,
    ),
)


def hint(endpoint: SmtpEndpoint, error: DeliveryError) -> str | None:
    """Advice in plain words (the request's language) for a failed delivery, when one fits."""
    for candidate in HINTS:
        if candidate.matches(endpoint, error):
            advice = candidate.text(endpoint)
            if advice:
                return advice
    return None


@dataclass
class ShownStep:
    """One step as the test result shows it: its English name (translated with _(name))."""

    name: str
    ok: bool
    detail: str


@dataclass
class MailTestReport:
    """What a test delivery did, in words: its steps, where it failed, the server's reply and a hint."""

    steps: list[ShownStep]
    ok: bool
    failed_step: str | None
    smtp_code: int | None
    reply: str
    hint: str | None
    transport: str | None = None
    warning: str | None = None


def unencrypted_credentials(endpoint: SmtpEndpoint) -> str | None:
    """The test mail's warning for a password or token sent to an SMTP server without encryption."""
    if endpoint.graph_url or endpoint.encryption != ENCRYPTION_NONE or not endpoint.username:
        return None
    if endpoint.bearer is not None:
        return _("The token would cross the network unencrypted: choose STARTTLS or SSL/TLS.")
    return _("The password would cross the network unencrypted: choose STARTTLS or SSL/TLS.")


def explain(diagnosis: Diagnosis, endpoint: SmtpEndpoint, transport: str | None = None) -> MailTestReport:
    """The diagnosis's facts with step names and, for a failure, a hint."""
    steps = [
        ShownStep(
            STEP_NAMES[step.step], step.ok, _(NOT_USED_SHOWN) if step.detail == NOT_USED else step.detail
        )
        for step in diagnosis.steps
    ]
    failure = diagnosis.failure
    return MailTestReport(
        steps=steps,
        ok=diagnosis.ok,
        failed_step=STEP_NAMES[failure.step] if failure else None,
        smtp_code=diagnosis.smtp_code,
        reply=diagnosis.reply,
        hint=hint(endpoint, failure) if failure else None,
        transport=transport,
        warning=unencrypted_credentials(endpoint),
    )


def explain_unusable(reason: str, endpoint: SmtpEndpoint, transport: str | None = None) -> MailTestReport:
    """The report of a test that could not start: the trusted CA certificates could not be loaded."""
    failure = DeliveryError(reason, permanent=True, step="token", kind="ca")
    return explain(Diagnosis([Step("token", False, reason)], failure, None, reason), endpoint, transport)
