"""The socket under an SMTP session: a client on a checked address, a deadline watchdog, the wire bytes."""

import contextlib
import copy
import io
import smtplib
import socket
import ssl
import threading
import time
from email.generator import BytesGenerator
from email.message import Message
from email.policy import EmailPolicy

from .errors import STEP_LABELS, DeliveryError, text


class Client(smtplib.SMTP):
    """smtplib.SMTP over a socket the session connected itself, so it reaches only checked addresses."""

    def __init__(self, server_hostname: str, **kwargs):
        super().__init__(**kwargs)
        # starttls() verifies the certificate against _host, which only a connecting __init__ would set.
        self._host = server_hostname

    def _get_socket(self, host, port, timeout):
        return self.sock


class Watchdog:
    """Shuts the connection down when the deadline passes, waking any read or write blocked on it."""

    def __init__(self, deadline: float | None):
        self.fired = False
        self._lock = threading.Lock()
        self._sock: socket.socket | None = None
        self._timer = None
        if deadline is not None:
            self._timer = threading.Timer(max(0.0, deadline - time.monotonic()), self._fire)
            self._timer.daemon = True
            self._timer.start()

    def watch(self, sock: socket.socket) -> None:
        """Watch this connection; a duplicate of the socket stays valid when TLS wraps the original."""
        with self._lock:
            if self._sock is not None:
                self._sock.close()
            self._sock = sock.dup()
            if self.fired:
                self._shut_down()

    def stop(self) -> None:
        """Stop watching and let go of the connection."""
        if self._timer is not None:
            self._timer.cancel()
        with self._lock:
            if self._sock is not None:
                self._sock.close()
                self._sock = None

    def _fire(self):
        with self._lock:
            self.fired = True
            self._shut_down()

    def _shut_down(self):
        if self._sock is not None:
            with contextlib.suppress(OSError):
                self._sock.shutdown(socket.SHUT_RDWR)


def describe_tls(sock: ssl.SSLSocket) -> str:
    """The TLS version and the verified certificate's names and issuer, in one line."""
    certificate = sock.getpeercert() or {}
    subject = _name_fields(certificate.get("subject", ()))
    issuer = _name_fields(certificate.get("issuer", ()))
    names = [value for _, value in certificate.get("subjectAltName", ())] or [subject.get("commonName", "?")]
    issuer_name = issuer.get("commonName") or issuer.get("organizationName") or "?"
    return f"{sock.version()}, certificate for {', '.join(names)} issued by {issuer_name}, verified"


def _name_fields(name: tuple) -> dict[str, str]:
    return dict(item for rdn in name for item in rdn)


def describe_extensions(client: smtplib.SMTP) -> str:
    """The extensions the server advertised in its EHLO reply, in one line."""
    extensions = ", ".join(
        " ".join(f"{name.upper()} {params}".split()) for name, params in client.esmtp_features.items()
    )
    return f"extensions: {extensions or 'none'}"


def message_bytes(message: Message, international: bool) -> bytes:
    """The message as it goes over the wire: CRLF line ends, no Bcc, UTF-8 headers only with SMTPUTF8."""
    message = copy.copy(message)
    del message["Bcc"]
    del message["Resent-Bcc"]
    policy = message.policy
    if international and isinstance(policy, EmailPolicy):
        policy = policy.clone(utf8=True)  # compat32 headers are ASCII already (exastro_mail.mime's)
    with io.BytesIO() as buffer:
        BytesGenerator(buffer, policy=policy).flatten(message, linesep="\r\n")
        return buffer.getvalue()


def check_addresses(envelope_from: str, recipients: list[str]) -> None:
    """Refuse what no SMTP command may carry: no recipients, or an address with brackets or spaces."""
    if not recipients:
        raise DeliveryError("there are no recipients", permanent=True, step="rcpt", kind="invalid")
    for step, address in [("mail", envelope_from), *(("rcpt", recipient) for recipient in recipients)]:
        if any(char in address for char in "<>\r\n") or any(char.isspace() for char in address):
            raise DeliveryError(
                f"invalid address {address!r} ({STEP_LABELS[step]})",
                permanent=True,
                step=step,
                kind="invalid",
            )


def mail_options(client: smtplib.SMTP, payload: bytes, international: bool) -> list[str]:
    """The MAIL FROM parameters this message needs, as far as the server offers them."""
    options = []
    if client.has_extn("size"):
        options.append(f"SIZE={len(payload)}")
    if international:
        options += ["SMTPUTF8", "BODY=8BITMIME"]
    elif not payload.isascii() and client.has_extn("8bitmime"):
        options.append("BODY=8BITMIME")
    return options


def send_recipients(client: smtplib.SMTP, recipients: list[str]) -> tuple[list, list]:
    """RCPT TO each recipient: (accepted, refused), each a list of (address, code, reply); stops at 421."""
    accepted, refused = [], []
    for address in recipients:
        code, reply = client.rcpt(address)
        outcome = (address, code, f"{code} {text(reply)}")
        if code in (250, 251):
            accepted.append(outcome)
        else:
            refused.append(outcome)
        if code == 421:
            break
    return accepted, refused
