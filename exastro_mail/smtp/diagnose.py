"""The admin's "Send test mail": one real delivery, step by step, with a hint where one fits."""

import time
from dataclasses import dataclass
from email.message import EmailMessage

from flask_babel import gettext as _

from ..i18n import N_
from .transport import ENCRYPTION_NONE, ENCRYPTION_SSL, DeliveryError, SmtpEndpoint, SmtpSession

# In English wherever they are kept (the audit log, the saved test result); shown with _(name).
STEP_NAMES = {
    "resolve": N_("Name resolution"),
    "connect": N_("TCP connect"),
    "tls": "TLS",
    "ehlo": "EHLO",
    "auth": "AUTH",
    "mail": "MAIL FROM",
    "rcpt": "RCPT TO",
    "data": "DATA",
    "rset": "RSET",
    "accepted": N_("Accepted"),
}
# What the transport reports for TLS or AUTH when the settings do not use them; the other details
# are the server's own words or technical values, shown as they are.
NOT_USED = N_("not used")

# Failures that mean the client and server disagree about when TLS starts.
_WRONG_TLS_KINDS = {
    "timeout",
    "disconnected",
    "tls_handshake",
    "reply",
    "unsupported",
    "starttls_unavailable",
    "starttls_refused",
}


@dataclass
class Step:
    """One step of the conversation: whether it worked and what was seen."""

    name: str
    ok: bool
    detail: str


@dataclass
class Diagnosis:
    """What a test delivery did: its steps, where it failed, the server's reply and a hint."""

    steps: list[Step]
    ok: bool
    failed_step: str | None
    smtp_code: int | None
    reply: str
    hint: str | None


def diagnose(
    endpoint: SmtpEndpoint,
    message: EmailMessage,
    envelope_from: str,
    recipients: list[str],
    deadline_seconds: float,
) -> Diagnosis:
    """Deliver message through the real transport, recording each step; return within deadline_seconds."""
    steps: dict[str, Step] = {}

    def record(step: str, detail: str) -> None:
        if detail == NOT_USED:
            detail = _(NOT_USED)
        steps[step] = Step(STEP_NAMES[step], True, _scrub(detail, endpoint))

    try:
        with SmtpSession(endpoint, deadline=time.monotonic() + deadline_seconds, on_step=record) as session:
            reply = session.send(message, envelope_from, recipients)
    except DeliveryError as error:
        steps[error.step] = Step(STEP_NAMES[error.step], False, error.reason)
        return Diagnosis(
            steps=list(steps.values()),
            ok=False,
            failed_step=STEP_NAMES[error.step],
            smtp_code=error.smtp_code,
            reply=error.reason,
            hint=hint(endpoint, error),
        )
    reply = _scrub(reply, endpoint)
    record("accepted", reply)
    code = reply.split(" ", 1)[0]
    return Diagnosis(
        steps=list(steps.values()),
        ok=True,
        failed_step=None,
        smtp_code=int(code) if code.isdigit() else None,
        reply=reply,
        hint=None,
    )


def hint(endpoint: SmtpEndpoint, error: DeliveryError) -> str | None:
    """Advice in plain words (the request's language) for a failed delivery, when the failure points at
    a likely cause."""
    kind, step, port, encryption = error.kind, error.step, endpoint.port, endpoint.encryption
    if kind == "forbidden_host":
        return _("This installation only allows SMTP servers on public addresses.")
    if kind == "resolve":
        return _("The host name %(host)s could not be found; check the SMTP server host.", host=endpoint.host)
    if kind == "refused":
        return _(
            "Nothing accepted connections on port %(port)s of %(host)s; check the host and port.",
            port=port,
            host=endpoint.host,
        )
    if kind == "ca":
        return _("The Trusted CA certificate could not be read; paste it in PEM format.")
    if kind == "certificate_name":
        return _("The certificate's names do not include the host %(host)s.", host=endpoint.host)
    if kind == "certificate_untrusted":
        return _(
            "The server's certificate is self-signed or issued by an unknown CA; "
            "add that CA certificate as the Trusted CA certificate."
        )
    if kind == "certificate_expired":
        return _("The server's certificate has expired; its administrator must renew it.")
    if step in ("ehlo", "tls") and kind in _WRONG_TLS_KINDS:
        if port == 465 and encryption != ENCRYPTION_SSL:
            return _("Port 465 usually expects SSL/TLS.")
        if port == 587 and encryption == ENCRYPTION_SSL:
            return _("Port 587 usually expects STARTTLS.")
        if port == 25 and encryption == ENCRYPTION_SSL:
            return _("Port 25 usually expects STARTTLS or no encryption.")
    if kind in ("tls_handshake", "timeout") and step == "tls" and encryption == ENCRYPTION_SSL:
        return _("The server did not answer with TLS; it may expect STARTTLS or no encryption on this port.")
    if kind in ("starttls_unavailable", "starttls_refused"):
        return _(
            "The server does not start TLS on request on this port; choose SSL/TLS if it expects TLS "
            "from the start (usually port 465), or ask its administrator to enable STARTTLS."
        )
    if kind == "timeout" and step == "ehlo" and encryption != ENCRYPTION_SSL:
        return _("The server sent no greeting; if it expects TLS from the start, choose SSL/TLS.")
    if kind == "timeout" and step in ("resolve", "connect"):
        return _("The server did not answer in time; check the host, the port and any firewall in between.")
    if kind == "auth_rejected" and error.permanent:
        return _("The server rejected the user name or password.")
    if kind == "auth_unavailable":
        if encryption == ENCRYPTION_NONE:
            return _("The server offers no authentication without encryption; choose STARTTLS or SSL/TLS.")
        return _(
            "The server does not offer authentication; clear the user name or check the server settings."
        )
    if error.smtp_code == 530:
        return _("The server requires authentication; set a user name and password.")
    if kind == "smtputf8_unsupported":
        return _("The server cannot take addresses with non-ASCII characters.")
    if kind == "reply" and step == "mail" and error.permanent:
        return _(
            "The server refused the sender; check the envelope From address and what the account may send as."
        )
    if kind == "reply" and step == "rcpt" and error.permanent:
        return _(
            "The server refused the recipient; check the address, or whether the server relays mail to it."
        )
    return None


def _scrub(text: str, endpoint: SmtpEndpoint) -> str:
    # Servers are not supposed to echo credentials, but the report must stay clean even if one does.
    if endpoint.password:
        return text.replace(endpoint.password, "********")
    return text
