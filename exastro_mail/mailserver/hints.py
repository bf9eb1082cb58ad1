"""The test mail in words: each step named in the reader's language, and a hint where one fits.

smtp/ reports facts (the step, the kind of failure, the server's code); HINTS maps them to advice.
"""

from dataclasses import dataclass

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from ..i18n import N_
from ..smtp.diagnose import NOT_USED, Diagnosis, Step
from ..smtp.endpoint import ENCRYPTION_NONE, ENCRYPTION_SSL, ENCRYPTION_STARTTLS, SmtpEndpoint
from ..smtp.errors import NOT_SMTP_REASON, STEP_LABELS, DeliveryError
from .hint_rule import Hint
from .oauth_hints import OAUTH_HINTS
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
# A step detail that is ours alone, said in the reader's language here; the known shapes of the others
# are said again as they are shown (mailserver/step_details.py), the server's words kept as they are.
SHOWN_DETAILS = {NOT_SMTP_REASON: N_("this is not an SMTP server: it did not answer as one does")}

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


def _port_advice(endpoint: SmtpEndpoint) -> str | None:
    return port_hint(endpoint.port, endpoint.encryption)


# The first hint that matches (and has something to say) is given.
HINTS = (
    *OAUTH_HINTS,
    Hint(
        _l(
            "This installation only connects to public addresses. Its operator may allow a relay on a "
            "private network or on this machine with EXASTRO_MAIL_SMTP_ALLOWED_HOSTS."
        ),
        kinds=("forbidden_host", "token_forbidden_host", "graph_forbidden_host"),
    ),
    Hint(
        _l(
            "Something other than an SMTP server answers on port %(port)s of %(host)s: check the host "
            "and the port."
        ),
        kinds=("not_smtp",),
    ),
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
    """One step as the test result shows it: its English name (translated with _(name)), its detail
    (English shapes translated as shown, mailserver/step_details.py), and whether the settings used it."""

    name: str
    ok: bool
    detail: str
    used: bool = True


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


def _shown_detail(detail: str) -> str:
    if detail == NOT_USED:
        return ""  # the result says "not used" itself, without a green OK
    return _(SHOWN_DETAILS[detail]) if detail in SHOWN_DETAILS else detail


def shown_step(step: Step) -> ShownStep:
    """One step of the facts as the test result shows it."""
    return ShownStep(STEP_NAMES[step.step], step.ok, _shown_detail(step.detail), used=step.detail != NOT_USED)


def explain(diagnosis: Diagnosis, endpoint: SmtpEndpoint, transport: str | None = None) -> MailTestReport:
    """The diagnosis's facts with step names and, for a failure, a hint."""
    steps = [shown_step(step) for step in diagnosis.steps]
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
