"""The admin's "Send test mail" as facts: one real delivery, step by step, and where it stopped.

The words people read (step names in their language, hints) are built above, in mailserver/hints.py.
"""

import time
from collections.abc import Callable
from dataclasses import dataclass
from email.message import Message

from .transport import DeliveryError, SmtpEndpoint, SmtpSession

# The steps of a delivery in order ("rset" happens only between two messages of one session; "token"
# only with OAuth 2.0).
STEPS_IN_ORDER = ("token", "resolve", "connect", "tls", "ehlo", "auth", "mail", "rcpt", "data", "accepted")
# What the session reports for TLS or AUTH when the settings do not use them.
NOT_USED = "not used"


@dataclass
class Step:
    """One step of the conversation ("resolve", "connect", ...): whether it worked and what was seen."""

    step: str
    ok: bool
    detail: str


@dataclass
class Diagnosis:
    """What a test delivery did: its steps, the failure that stopped it, and the server's last reply."""

    steps: list[Step]
    failure: DeliveryError | None
    smtp_code: int | None
    reply: str

    @property
    def ok(self) -> bool:
        return self.failure is None


def diagnose(
    endpoint: SmtpEndpoint,
    message: Message,
    envelope_from: str,
    recipients: list[str],
    deadline_seconds: float,
    *,
    open_session: Callable | None = None,
    on_step: Callable[[Step], None] | None = None,
) -> Diagnosis:
    """Deliver message through the real transport, recording each step; return within deadline_seconds.

    open_session(endpoint, deadline, on_step) opens another transport with SmtpSession's interface
    (Microsoft Graph); by default the SMTP session. on_step(step) hears of each step as it ends, the
    failed one included."""
    steps: dict[str, Step] = {}

    def record(step: str, detail: str, ok: bool = True) -> None:
        steps[step] = Step(step, ok, _scrub(detail, endpoint) if ok else detail)
        if on_step is not None:
            on_step(steps[step])

    if open_session is None:

        def open_session(endpoint, deadline, on_step):
            return SmtpSession(endpoint, deadline=deadline, on_step=on_step)

    try:
        with open_session(endpoint, time.monotonic() + deadline_seconds, record) as session:
            reply = session.send(message, envelope_from, recipients).reply
    except DeliveryError as error:
        record(error.step, error.reason, ok=False)
        return Diagnosis(list(steps.values()), error, error.smtp_code, error.reason)
    reply = _scrub(reply, endpoint)
    record("accepted", reply)
    code = reply.split(" ", 1)[0]
    return Diagnosis(list(steps.values()), None, int(code) if code.isdigit() else None, reply)


def _scrub(text: str, endpoint: SmtpEndpoint) -> str:
    # Servers are not supposed to echo credentials, but the report must stay clean even if one does.
    if endpoint.password:
        return text.replace(endpoint.password, "********")
    return text
