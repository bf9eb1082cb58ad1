"""Why a delivery stopped, as facts: the step, the kind of failure, the server's code and words."""

import re
import smtplib
import socket
import ssl
from email.errors import MessageError

# How each step is named in a reason, after the server's reply: "550 5.1.1 no such user (RCPT TO)".
STEP_LABELS = {
    "resolve": "name resolution",
    "connect": "connect",
    "tls": "TLS",
    "ehlo": "EHLO",
    "auth": "AUTH",
    "mail": "MAIL FROM",
    "rcpt": "RCPT TO",
    "data": "DATA",
    "rset": "RSET",
    "token": "token request",  # noqa: S105  # nosec B105  # a step name, not a secret
    "sendmail": "Graph sendMail",
}

# Failures after which the server still waits for the next command: it answered with a reply, or the
# session stopped before sending one.
AT_A_COMMAND_BOUNDARY = {
    "reply",
    "auth_rejected",
    "auth_unavailable",
    "auth_mechanism",
    "starttls_unavailable",
    "starttls_refused",
    "smtputf8_unsupported",
    "invalid",
    "encoding",
}

# What a server that does not speak SMTP gets instead of its own words (an SSH or database banner, an
# HTTP error page): those would tell an organization admin what runs on another machine's ports.
NOT_SMTP_REASON = "this is not an SMTP server: it did not answer as one does"

# "550 5.1.1 ...": the reply code, then the enhanced status code.
_ENHANCED_CODE = re.compile(r"\d{3}[ -]([245]\.\d{1,3}\.\d{1,3})\b")

# OpenSSL verify codes that get a kind of their own.
_NAME_MISMATCH = {62, 64}  # X509_V_ERR_HOSTNAME_MISMATCH, X509_V_ERR_IP_ADDRESS_MISMATCH
_UNTRUSTED = {18, 19, 20, 21}  # self-signed leaf or chain, issuer unknown, leaf unverifiable
_EXPIRED = {10}  # X509_V_ERR_CERT_HAS_EXPIRED


class DeliveryError(Exception):
    """The server did not take the message; .permanent says whether trying again later can help.

    .reason is shown to people and logged, so it never contains the password. .step is where the
    conversation stopped ('resolve', 'connect', 'tls', 'ehlo', 'auth', 'mail', 'rcpt', 'data', 'rset')
    and .kind what went wrong there ('reply', 'timeout', 'refused', 'certificate_name', ...). With OAuth
    2.0 the step may be 'token' (or 'sendmail', Microsoft Graph), .provider_code the provider's error
    code (AADSTS7000215, unauthorized_client, ErrorAccessDenied), .http_status its HTTP status and
    .retry_after the seconds it asked to wait.
    .extensions are the ones the server offered in its last EHLO reply, lower case ('auth', 'starttls').
    """

    def __init__(
        self,
        reason: str,
        *,
        permanent: bool,
        step: str,
        smtp_code: int | None = None,
        kind: str = "reply",
        extensions: frozenset[str] = frozenset(),
        provider_code: str | None = None,
        http_status: int | None = None,
        retry_after: int | None = None,
    ):
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent
        self.step = step
        self.smtp_code = smtp_code
        self.kind = kind
        self.provider_code = provider_code
        self.http_status = http_status
        self.retry_after = retry_after
        self.extensions = extensions
        # At RCPT TO, when no recipient took the message: each one's refusal (smtp.outcome.Refusal).
        self.refused: tuple = ()

    @property
    def enhanced_code(self) -> str | None:
        """The enhanced status code of the server's reply (RFC 3463: "5.7.1"), when it gave one."""
        match = _ENHANCED_CODE.match(self.reason) if self.smtp_code else None
        return match.group(1) if match else None


def is_smtp_reply(code: int) -> bool:
    """Whether code can begin an SMTP reply (RFC 5321 4.2: 2yz to 5yz, y 0 to 5); smtplib gives -1
    for a line that does not begin with a number."""
    return 2 <= code // 100 <= 5 and code // 10 % 10 <= 5


def classify(error: Exception, step: str, label: str, endpoint) -> dict:
    """What a low-level failure at step means: DeliveryError's reason, permanent, step and kind."""
    if isinstance(error, ssl.SSLCertVerificationError):
        kind = _certificate_kind(error.verify_code)
        return _facts("tls", kind, True, f"certificate verify failed: {error.verify_message}")
    if _caused_by(error, TimeoutError):
        return _facts(step, "timeout", False, f"timed out after {endpoint.timeout:g} s ({label})")
    if isinstance(error, ssl.SSLError) and step == "tls":
        return _facts(step, "tls_handshake", True, f"TLS handshake failed: {error.reason or error}")
    if isinstance(error, ConnectionRefusedError):
        return _facts(step, "refused", False, f"connection refused by {endpoint.host} port {endpoint.port}")
    if isinstance(error, socket.gaierror):
        return _facts(step, "resolve", False, f"could not resolve {endpoint.host}: {error.strerror}")
    if isinstance(error, smtplib.SMTPServerDisconnected | ssl.SSLError | ConnectionError):
        return _facts(step, "disconnected", False, f"the server closed the connection ({label})")
    if isinstance(error, smtplib.SMTPException):
        kind = "auth_unavailable" if step == "auth" else "unsupported"
        return _facts(step, kind, True, f"{error} ({label})")
    if isinstance(error, UnicodeError):
        # The message of a UnicodeError quotes the text it choked on, which may be the password.
        what = "the user name or password" if step == "auth" else "an address or the message"
        return _facts(step, "encoding", True, f"{what} contains characters that cannot be sent ({label})")
    if isinstance(error, ValueError | MessageError):
        return _facts(step, "invalid", True, f"{error} ({label})")
    return _facts(step, "network", False, f"{error.strerror or error} ({label})")


def _facts(step: str, kind: str, permanent: bool, reason: str) -> dict:
    return {"reason": reason, "permanent": permanent, "step": step, "kind": kind}


def _certificate_kind(verify_code: int) -> str:
    if verify_code in _NAME_MISMATCH:
        return "certificate_name"
    if verify_code in _UNTRUSTED:
        return "certificate_untrusted"
    if verify_code in _EXPIRED:
        return "certificate_expired"
    return "certificate"


def _caused_by(error: BaseException, kind: type) -> bool:
    while error is not None:
        if isinstance(error, kind):
            return True
        error = error.__cause__ or error.__context__
    return False


def text(reply: bytes | str) -> str:
    """A server reply on one line."""
    if isinstance(reply, bytes):
        reply = reply.decode("utf-8", "replace")
    return " ".join(reply.split("\n")).strip()
