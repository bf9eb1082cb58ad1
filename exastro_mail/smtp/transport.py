"""Hand messages to an SMTP server: connect, TLS as configured and always verified, AUTH, MAIL, RCPT, DATA."""

import contextlib
import copy
import io
import smtplib
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.errors import MessageError
from email.generator import BytesGenerator
from email.message import EmailMessage

from . import hosts

ENCRYPTION_NONE, ENCRYPTION_SSL, ENCRYPTION_STARTTLS = "none", "ssl", "starttls"
ENCRYPTIONS = (ENCRYPTION_NONE, ENCRYPTION_SSL, ENCRYPTION_STARTTLS)

# How each step is named in a reason, after the server's reply: "550 5.1.1 no such user (RCPT TO)".
_STEP_LABELS = {
    "resolve": "name resolution",
    "connect": "connect",
    "tls": "TLS",
    "ehlo": "EHLO",
    "auth": "AUTH",
    "mail": "MAIL FROM",
    "rcpt": "RCPT TO",
    "data": "DATA",
    "rset": "RSET",
}

# OpenSSL verify codes that get their own hint.
_NAME_MISMATCH = {62, 64}  # X509_V_ERR_HOSTNAME_MISMATCH, X509_V_ERR_IP_ADDRESS_MISMATCH
_UNTRUSTED = {18, 19, 20, 21}  # self-signed leaf or chain, issuer unknown, leaf unverifiable
_EXPIRED = {10}  # X509_V_ERR_CERT_HAS_EXPIRED


@dataclass(frozen=True)
class SmtpEndpoint:
    """Where and how to connect: host, port, encryption, credentials and what to trust."""

    host: str
    port: int
    encryption: str
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    timeout: float = 10.0
    ca_file: str | None = None
    ca_pem: str | None = None
    deny_private_hosts: bool = False

    def __post_init__(self):
        if self.encryption not in ENCRYPTIONS:
            raise ValueError(f"encryption must be one of {', '.join(ENCRYPTIONS)}, not {self.encryption!r}")


class DeliveryError(Exception):
    """The server did not take the message; .permanent says whether trying again later can help.

    .reason is shown to people and logged, so it never contains the password. .step is where the
    conversation stopped ('resolve', 'connect', 'tls', 'ehlo', 'auth', 'mail', 'rcpt', 'data', 'rset')
    and .kind what went wrong there ('reply', 'timeout', 'refused', 'certificate_name', ...).
    """

    def __init__(
        self, reason: str, *, permanent: bool, step: str, smtp_code: int | None = None, kind: str = "reply"
    ):
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent
        self.step = step
        self.smtp_code = smtp_code
        self.kind = kind


def tls_context(endpoint: SmtpEndpoint) -> ssl.SSLContext:
    """A client TLS context that verifies the server's certificate and host name, TLS 1.2 or newer."""
    context = ssl.create_default_context()
    context.check_hostname = True
    context.verify_mode = ssl.CERT_REQUIRED
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if endpoint.ca_file:
        context.load_verify_locations(cafile=endpoint.ca_file)
    if endpoint.ca_pem:
        context.load_verify_locations(cadata=endpoint.ca_pem)
    return context


class _Client(smtplib.SMTP):
    """smtplib.SMTP over a socket the session connected itself, so it reaches only checked addresses."""

    def __init__(self, server_hostname: str, **kwargs):
        super().__init__(**kwargs)
        # starttls() verifies the certificate against _host, which only a connecting __init__ would set.
        self._host = server_hostname

    def _get_socket(self, host, port, timeout):
        return self.sock


class _Watchdog:
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


class SmtpSession:
    """One connection to an SMTP server that delivers one or more messages; use it with `with`.

    on_step(step, detail) is told each step as it succeeds ("not used" for TLS or AUTH when they do
    not apply); the test-mail diagnosis listens to it, so it exercises exactly this code.
    """

    def __init__(
        self,
        endpoint: SmtpEndpoint,
        local_hostname: str | None = None,
        deadline: float | None = None,
        *,
        on_step: Callable[[str, str], None] | None = None,
    ):
        self.endpoint = endpoint
        # smtplib's default, socket.getfqdn(), is a reverse DNS lookup that no deadline covers.
        self.local_hostname = local_hostname or socket.gethostname()
        self.deadline = deadline
        self._on_step = on_step
        self._client: _Client | None = None
        self._watchdog = _Watchdog(None)
        self._started = time.monotonic()
        self._transaction_open = False
        self._greeting = ""

    def __enter__(self) -> "SmtpSession":
        self._started = time.monotonic()
        self._watchdog = _Watchdog(self.deadline)
        try:
            self._open()
        except BaseException:
            self._close()
            raise
        return self

    def __exit__(self, *exc_info) -> None:
        if self._client is not None:
            with contextlib.suppress(smtplib.SMTPException, OSError):
                self._client.quit()
        self._close()

    def send(self, message: EmailMessage, envelope_from: str, recipients: list[str]) -> str:
        """Deliver one message; return the server's final reply to DATA or raise DeliveryError."""
        client = self._client
        if client is None or client.sock is None:
            raise DeliveryError(
                "the connection to the server is closed", permanent=False, step="connect", kind="disconnected"
            )
        if self._transaction_open:
            with self._step("rset"):
                self._expect("rset", *client.rset())
            self._transaction_open = False
        _check_addresses(envelope_from, recipients)
        international = not all(address.isascii() for address in (envelope_from, *recipients))
        if international and not client.has_extn("smtputf8"):
            raise DeliveryError(
                "the server does not support SMTPUTF8, which non-ASCII addresses need",
                permanent=True,
                step="mail",
                kind="smtputf8_unsupported",
            )
        with self._step("data"):
            payload = _message_bytes(message, international)

        self._transaction_open = True
        with self._step("mail"):
            reply = self._expect(
                "mail", *client.mail(envelope_from, self._mail_options(payload, international))
            )
        self._report("mail", reply)

        with self._step("rcpt"):
            accepted, refused = self._recipients(recipients)
        self._report("rcpt", "; ".join(f"{address}: {reply}" for address, _, reply in accepted + refused))
        if not accepted:
            self._recipients_refused(refused)

        with self._step("data"):
            reply = self._expect("data", *client.data(payload))
        self._transaction_open = False
        self._report("data", f"message sent ({len(payload)} bytes)")
        if refused:
            reply += "; refused: " + "; ".join(f"{address} ({text})" for address, _, text in refused)
        return reply

    def _open(self):
        endpoint = self.endpoint
        context = None
        if endpoint.encryption != ENCRYPTION_NONE:
            try:
                context = tls_context(endpoint)
            except (OSError, ValueError) as error:
                raise self._error(
                    f"the trusted CA certificates could not be loaded: {error}",
                    permanent=True,
                    step="tls",
                    kind="ca",
                ) from error

        with self._step("resolve"):
            if endpoint.deny_private_hosts:
                addresses = hosts.check_host(endpoint.host, timeout=self._time_left())
            else:
                addresses = hosts.resolve(endpoint.host, timeout=self._time_left())
        self._report("resolve", ", ".join(addresses))

        self._client = client = _Client(
            endpoint.host, local_hostname=self.local_hostname, timeout=endpoint.timeout
        )
        with self._step("connect"):
            client.sock = self._connect(addresses)

        if endpoint.encryption == ENCRYPTION_SSL:
            with self._step("tls"):
                client.sock = context.wrap_socket(client.sock, server_hostname=endpoint.host)
            self._report("tls", _describe_tls(client.sock))
        elif endpoint.encryption == ENCRYPTION_NONE:
            self._report("tls", "not used")

        with self._step("ehlo", label="greeting"):
            code, reply = client.connect(endpoint.host, endpoint.port)
            if code != 220:
                raise self._reply_error("ehlo", code, reply, label="greeting")
        self._greeting = f"{code} {_text(reply)}"
        with self._step("ehlo"):
            client.ehlo_or_helo_if_needed()
        self._report("ehlo", f"greeting {self._greeting}; {_describe_extensions(client)}")

        if endpoint.encryption == ENCRYPTION_STARTTLS:
            self._start_tls(context)

        if endpoint.username:
            self._login()
        else:
            self._report("auth", "not used")

    def _start_tls(self, context):
        client = self._client
        if not client.has_extn("starttls"):
            raise self._error(
                "the server does not offer STARTTLS, so the connection would not be encrypted",
                permanent=True,
                step="tls",
                kind="starttls_unavailable",
            )
        with self._step("tls", label="STARTTLS"):
            try:
                client.starttls(context=context)
            except smtplib.SMTPResponseException as error:
                # Even a "temporary" refusal must not lead to sending in clear text, nor to retrying forever.
                raise self._error(
                    f"{error.smtp_code} {_text(error.smtp_error)} (STARTTLS)",
                    permanent=True,
                    step="tls",
                    smtp_code=error.smtp_code,
                    kind="starttls_refused",
                ) from error
        self._report("tls", "STARTTLS, " + _describe_tls(client.sock))
        with self._step("ehlo"):
            client.ehlo_or_helo_if_needed()
        self._report("ehlo", f"greeting {self._greeting}; {_describe_extensions(client)}")

    def _login(self):
        client = self._client
        if not client.has_extn("auth"):
            raise self._error(
                "the server does not offer AUTH on this connection, but a user name is set",
                permanent=True,
                step="auth",
                kind="auth_unavailable",
            )
        with self._step("auth"):
            client.login(self.endpoint.username, self.endpoint.password or "")
        self._report("auth", f"accepted for {self.endpoint.username}")

    def _connect(self, addresses: list[str]) -> socket.socket:
        last_error = None
        for address in addresses:
            started = time.monotonic()
            try:
                sock = socket.create_connection((address, self.endpoint.port), timeout=self._time_left())
            except OSError as error:
                last_error = error
                continue
            sock.settimeout(self.endpoint.timeout)
            self._watchdog.watch(sock)
            elapsed_ms = (time.monotonic() - started) * 1000
            self._report(
                "connect", f"connected to {address} port {self.endpoint.port} in {elapsed_ms:.0f} ms"
            )
            return sock
        raise last_error or OSError(f"{self.endpoint.host} has no addresses")

    def _mail_options(self, payload: bytes, international: bool) -> list[str]:
        client = self._client
        options = []
        if client.has_extn("size"):
            options.append(f"SIZE={len(payload)}")
        if international:
            options += ["SMTPUTF8", "BODY=8BITMIME"]
        elif not payload.isascii() and client.has_extn("8bitmime"):
            options.append("BODY=8BITMIME")
        return options

    def _recipients(self, recipients):
        accepted, refused = [], []
        for address in recipients:
            code, reply = self._client.rcpt(address)
            outcome = (address, code, f"{code} {_text(reply)}")
            if code in (250, 251):
                accepted.append(outcome)
            else:
                refused.append(outcome)
            if code == 421:
                break
        return accepted, refused

    def _recipients_refused(self, refused):
        codes = [code for _, code, _ in refused]
        if 421 in codes:
            self._client.close()
        reason = "; ".join(f"{text} (RCPT TO {address})" for address, _, text in refused)
        raise self._error(
            reason, permanent=all(code >= 500 for code in codes), step="rcpt", smtp_code=codes[0]
        )

    def _expect(self, step: str, code: int, reply: bytes) -> str:
        if code not in (250, 251):
            raise self._reply_error(step, code, reply)
        return f"{code} {_text(reply)}"

    def _reply_error(self, step: str, code: int, reply: bytes, label: str | None = None) -> DeliveryError:
        if code == 421 and self._client is not None:
            self._client.close()
        return self._error(
            f"{code} {_text(reply)} ({label or _STEP_LABELS[step]})",
            permanent=not 400 <= code < 500,
            step=step,
            smtp_code=code,
        )

    @contextlib.contextmanager
    def _step(self, step: str, label: str | None = None):
        """Turn whatever goes wrong inside into a DeliveryError for this step."""
        try:
            yield
        except DeliveryError:
            raise
        except (smtplib.SMTPException, OSError, ValueError, MessageError) as error:
            raise self._failure(step, label or _STEP_LABELS[step], error) from error

    def _failure(self, step: str, label: str, error: Exception) -> DeliveryError:
        endpoint = self.endpoint
        if self._deadline_passed():
            return self._error(
                f"timed out after {self._deadline_seconds():g} s (deadline)",
                permanent=False,
                step=step,
                kind="timeout",
            )
        if isinstance(error, hosts.ForbiddenHost):
            return self._error(str(error), permanent=True, step=step, kind="forbidden_host")
        if isinstance(error, smtplib.SMTPResponseException):
            failure = self._reply_error(step, error.smtp_code, error.smtp_error, label=label)
            if isinstance(error, smtplib.SMTPAuthenticationError):
                failure.kind = "auth_rejected"
            return failure
        if isinstance(error, ssl.SSLCertVerificationError):
            return self._error(
                f"certificate verify failed: {error.verify_message}",
                permanent=True,
                step="tls",
                kind=_certificate_kind(error.verify_code),
            )
        if _caused_by(error, TimeoutError):
            return self._error(
                f"timed out after {endpoint.timeout:g} s ({label})",
                permanent=False,
                step=step,
                kind="timeout",
            )
        if isinstance(error, ssl.SSLError) and step == "tls":
            return self._error(
                f"TLS handshake failed: {error.reason or error}",
                permanent=True,
                step=step,
                kind="tls_handshake",
            )
        if isinstance(error, ConnectionRefusedError):
            return self._error(
                f"connection refused by {endpoint.host} port {endpoint.port}",
                permanent=False,
                step=step,
                kind="refused",
            )
        if isinstance(error, socket.gaierror):
            return self._error(
                f"could not resolve {endpoint.host}: {error.strerror}",
                permanent=False,
                step=step,
                kind="resolve",
            )
        if isinstance(error, smtplib.SMTPServerDisconnected | ssl.SSLError | ConnectionError):
            return self._error(
                f"the server closed the connection ({label})", permanent=False, step=step, kind="disconnected"
            )
        if isinstance(error, smtplib.SMTPException):
            kind = "auth_unavailable" if step == "auth" else "unsupported"
            return self._error(f"{error} ({label})", permanent=True, step=step, kind=kind)
        if isinstance(error, UnicodeError):
            # The message of a UnicodeError quotes the text it choked on, which may be the password.
            what = "the user name or password" if step == "auth" else "an address or the message"
            return self._error(
                f"{what} contains characters that cannot be sent ({label})",
                permanent=True,
                step=step,
                kind="encoding",
            )
        if isinstance(error, ValueError | MessageError):
            return self._error(f"{error} ({label})", permanent=True, step=step, kind="invalid")
        return self._error(f"{error.strerror or error} ({label})", permanent=False, step=step, kind="network")

    def _error(self, reason: str, **details) -> DeliveryError:
        password = self.endpoint.password
        if password:
            reason = reason.replace(password, "********")
        return DeliveryError(reason, **details)

    def _report(self, step: str, detail: str) -> None:
        if self._on_step is not None:
            self._on_step(step, detail)

    def _time_left(self) -> float:
        """How long the next blocking call may take: the timeout, cut short by the deadline."""
        if self.deadline is None:
            return self.endpoint.timeout
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("deadline passed")
        return min(self.endpoint.timeout, left)

    def _deadline_passed(self) -> bool:
        return self._watchdog.fired or (self.deadline is not None and time.monotonic() >= self.deadline)

    def _deadline_seconds(self) -> float:
        return round(self.deadline - self._started, 1)

    def _close(self):
        if self._client is not None:
            self._client.close()
            self._client = None
        self._watchdog.stop()


def deliver(
    endpoint: SmtpEndpoint,
    message: EmailMessage,
    envelope_from: str,
    recipients: list[str],
    *,
    deadline: float | None = None,
) -> str:
    """Deliver one message on a connection of its own and return the server's final reply to DATA."""
    with SmtpSession(endpoint, deadline=deadline) as session:
        return session.send(message, envelope_from, recipients)


def _describe_tls(sock: ssl.SSLSocket) -> str:
    """The TLS version and the verified certificate's names and issuer, in one line."""
    certificate = sock.getpeercert() or {}
    subject = _name_fields(certificate.get("subject", ()))
    issuer = _name_fields(certificate.get("issuer", ()))
    names = [value for _, value in certificate.get("subjectAltName", ())] or [subject.get("commonName", "?")]
    issuer_name = issuer.get("commonName") or issuer.get("organizationName") or "?"
    return f"{sock.version()}, certificate for {', '.join(names)} issued by {issuer_name}, verified"


def _name_fields(name: tuple) -> dict[str, str]:
    return dict(item for rdn in name for item in rdn)


def _describe_extensions(client: smtplib.SMTP) -> str:
    """The extensions the server advertised in its EHLO reply, in one line."""
    extensions = ", ".join(
        " ".join(f"{name.upper()} {params}".split()) for name, params in client.esmtp_features.items()
    )
    return f"extensions: {extensions or 'none'}"


def _message_bytes(message: EmailMessage, international: bool) -> bytes:
    """The message as it goes over the wire: CRLF line ends, no Bcc, UTF-8 headers only with SMTPUTF8."""
    message = copy.copy(message)
    del message["Bcc"]
    del message["Resent-Bcc"]
    policy = message.policy.clone(utf8=True) if international else message.policy
    with io.BytesIO() as buffer:
        BytesGenerator(buffer, policy=policy).flatten(message, linesep="\r\n")
        return buffer.getvalue()


def _check_addresses(envelope_from: str, recipients: list[str]) -> None:
    if not recipients:
        raise DeliveryError("there are no recipients", permanent=True, step="rcpt", kind="invalid")
    for step, address in [("mail", envelope_from), *(("rcpt", recipient) for recipient in recipients)]:
        if any(char in address for char in "<>\r\n") or any(char.isspace() for char in address):
            raise DeliveryError(
                f"invalid address {address!r} ({_STEP_LABELS[step]})",
                permanent=True,
                step=step,
                kind="invalid",
            )


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


def _text(reply: bytes | str) -> str:
    if isinstance(reply, bytes):
        reply = reply.decode("utf-8", "replace")
    return " ".join(reply.split("\n")).strip()
