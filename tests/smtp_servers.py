"""Real SMTP servers for tests: aiosmtpd on 127.0.0.1 with trustme certificates, plus a stalling socket.

Registered by tests/conftest.py. Fixtures: smtp_ca, smtp_server_factory, smtp_server,
stalling_server, closed_port, make_endpoint.
"""

import asyncio
import datetime
import email
import email.policy
import ipaddress
import itertools
import socket
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import EmailMessage

import pytest
import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import MISSING, SMTP, AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from exastro_mail.smtp.transport import SmtpEndpoint

HOST = "127.0.0.1"
SERVER_NAMES = ("localhost", "127.0.0.1")


@dataclass(frozen=True)
class ServerCertificate:
    """A certificate and key for a test server, and the PEM a client must trust to accept it."""

    chain_file: str
    trusted_pem: str

    def server_context(self) -> ssl.SSLContext:
        """A server-side TLS context presenting this certificate."""
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.chain_file)
        return context


@dataclass(frozen=True)
class SmtpCa:
    """The test CA: its PEM (as text and as a file) and the server certificates tests can pick."""

    ca: trustme.CA
    ca_file: str
    ca_pem: str
    certificates: dict[str, ServerCertificate]


@dataclass(frozen=True)
class Received:
    """One message as the test server received it: .raw as on the wire, .message parsed with LF line ends."""

    envelope_from: str
    recipients: list[str]
    message: EmailMessage
    raw: bytes
    peer: tuple
    tls: bool
    authenticated_user: str | None
    mail_options: list[str] = field(default_factory=list)


@dataclass
class _Reply:
    """An injected reply: always, only the first `times` times, or whatever a callable says."""

    reply: str | tuple[str, int] | Callable[[str], str | None]
    used: int = 0

    def next(self, argument: str) -> str | None:
        if callable(self.reply):
            return self.reply(argument)
        if isinstance(self.reply, tuple):
            text, times = self.reply
            self.used += 1
            return text if self.used <= times else None
        return self.reply


class _Protocol(SMTP):
    """aiosmtpd's SMTP with the test server's knobs: reply delay, STARTTLS reply, open-connection tracking."""

    def __init__(self, server: "SmtpServer", **kwargs):
        self._test_server = server
        super().__init__(server, **kwargs)

    async def push(self, status):
        if self._test_server.delay:
            await asyncio.sleep(self._test_server.delay)
        await super().push(status)

    async def smtp_STARTTLS(self, arg):
        self._test_server.commands.append("STARTTLS")
        if self._test_server.starttls_reply:
            await self.push(self._test_server.starttls_reply)
            return
        await super().smtp_STARTTLS(arg)

    def connection_made(self, transport):
        super().connection_made(transport)
        self._test_server.open_protocols.add(self)

    def connection_lost(self, error):
        self._test_server.open_protocols.discard(self)
        super().connection_lost(error)


class _Controller(Controller):
    """aiosmtpd's Controller on an OS-assigned port, building _Protocol for each connection."""

    def __init__(self, server: "SmtpServer", smtp_kwargs: dict, **kwargs):
        self._test_server = server
        self._smtp_kwargs = smtp_kwargs
        super().__init__(server, hostname=HOST, port=0, **kwargs)

    def factory(self):
        self._test_server.connections += 1
        return _Protocol(self._test_server, loop=self.loop, **self._smtp_kwargs)

    def _trigger_server(self):
        # Bound to port 0: learn the real port before the readiness check connects to it.
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


class SmtpServer:
    """A real SMTP server on 127.0.0.1 that records what it receives; see smtp_server_factory for options.

    .host and .port to connect to; .messages (Received, in order) and .wait_for(count); .commands, the
    verbs that reached it (EHLO, STARTTLS, AUTH, MAIL, ...); .tried_auth_mechanisms, the mechanism of each
    AUTH; .connections, TCP connections accepted;
    .trusted_pem, the PEM a client must trust to accept this server's certificate.
    """

    def __init__(
        self,
        smtp_ca: SmtpCa,
        *,
        mode="plain",
        require_starttls=False,
        offer_starttls=True,
        starttls_reply=None,
        auth=None,
        auth_require_tls=None,
        auth_mechanisms=("LOGIN", "PLAIN"),
        replies=None,
        delay=0.0,
        cert="good",
        drop_after_data=False,
        smtputf8=True,
    ):
        if mode not in ("plain", "starttls", "implicit"):
            raise ValueError(f"unknown mode {mode!r}")
        self.mode = mode
        self.auth = dict(auth or {})
        self.replies = {step.upper(): _Reply(reply) for step, reply in (replies or {}).items()}
        if not set(self.replies) <= {"EHLO", "MAIL", "RCPT", "DATA"}:
            raise ValueError(
                f"replies can be injected for EHLO, MAIL, RCPT and DATA, not {sorted(self.replies)}"
            )
        self.delay = delay
        self.starttls_reply = starttls_reply
        self.drop_after_data = drop_after_data
        self.certificate = smtp_ca.certificates[cert]
        self.trusted_pem = self.certificate.trusted_pem
        self.messages: list[Received] = []
        self.commands: list[str] = []
        self.tried_auth_mechanisms: list[str] = []
        self.connections = 0
        self.open_protocols: set[_Protocol] = set()
        self._arrived = threading.Condition()
        self._queue_ids = itertools.count(1)
        self._running = False

        smtp_kwargs = {"hostname": "mx.test", "enable_SMTPUTF8": smtputf8, "timeout": 30}
        if self.auth:
            smtp_kwargs["authenticator"] = self._authenticate
            smtp_kwargs["auth_exclude_mechanism"] = {"LOGIN", "PLAIN", "CRAM-MD5"} - set(auth_mechanisms)
        controller_kwargs = {}
        if mode == "starttls" and offer_starttls:
            smtp_kwargs["tls_context"] = self.certificate.server_context()
            smtp_kwargs["require_starttls"] = require_starttls
        if mode == "implicit":
            controller_kwargs["ssl_context"] = self.certificate.server_context()
        # aiosmtpd only counts STARTTLS as TLS, so with implicit TLS AUTH must be allowed "without" it.
        smtp_kwargs["auth_require_tls"] = (
            (mode != "implicit") if auth_require_tls is None else auth_require_tls
        )
        self._controller = _Controller(self, smtp_kwargs, **controller_kwargs)

    @property
    def host(self) -> str:
        return HOST

    @property
    def port(self) -> int:
        return self._controller.port

    def start(self) -> "SmtpServer":
        """Start listening; the readiness check's connection is not counted."""
        self._controller.start()
        self._running = True
        self.connections = 0
        return self

    def stop(self) -> None:
        """Close open connections, then stop the server and its event loop."""
        if not self._running:
            return
        self._running = False
        asyncio.run_coroutine_threadsafe(self._close_connections(), self._controller.loop).result(timeout=5)
        self._controller.stop()

    async def _close_connections(self):
        handlers = []
        for protocol in list(self.open_protocols):
            if protocol.transport is not None:
                protocol.transport.abort()
            if protocol._handler_coroutine is not None:
                handlers.append(protocol._handler_coroutine)
        await asyncio.gather(*handlers, return_exceptions=True)

    def wait_for(self, count: int, timeout: float = 5) -> list[Received]:
        """Wait until at least count messages have arrived and return them all."""
        with self._arrived:
            if not self._arrived.wait_for(lambda: len(self.messages) >= count, timeout):
                raise AssertionError(
                    f"expected {count} messages, got {len(self.messages)} within {timeout} s"
                )
            return list(self.messages)

    def _injected(self, step: str, argument: str = "") -> str | None:
        reply = self.replies.get(step)
        return reply.next(argument) if reply is not None else None

    def _authenticate(self, server, session, envelope, mechanism, auth_data):
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        user = auth_data.login.decode("utf-8", "replace")
        password = auth_data.password.decode("utf-8", "replace")
        if self.auth.get(user) == password:
            return AuthResult(success=True, auth_data=auth_data)
        return AuthResult(success=False, handled=False)

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        self.commands.append("EHLO")
        injected = self._injected("EHLO", hostname)
        if injected:
            return [injected]
        session.host_name = hostname
        return responses

    async def handle_HELO(self, server, session, envelope, hostname):
        self.commands.append("HELO")
        session.host_name = hostname
        return f"250 {server.hostname}"

    async def handle_AUTH(self, server, session, envelope, args):
        self.commands.append("AUTH")
        self.tried_auth_mechanisms.append(args[0].upper())
        return MISSING

    async def auth_CRAM__MD5(self, server, args):
        """Offered only when asked for (auth_mechanisms); never succeeds."""
        return AuthResult(success=False)

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        self.commands.append("MAIL")
        if self.auth and not session.authenticated:
            return "530 5.7.0 Authentication required"
        return self._injected("MAIL", address) or MISSING

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        self.commands.append("RCPT")
        return self._injected("RCPT", address) or MISSING

    async def handle_RSET(self, server, session, envelope):
        self.commands.append("RSET")
        return MISSING

    async def handle_QUIT(self, server, session, envelope):
        self.commands.append("QUIT")
        return MISSING

    async def handle_DATA(self, server, session, envelope):
        self.commands.append("DATA")
        if self.drop_after_data:
            server.transport.close()
            # Closing cancels this handler; wait for that instead of answering.
            await asyncio.Event().wait()
        injected = self._injected("DATA")
        if injected:
            return injected
        user = None
        if session.authenticated and isinstance(session.auth_data, LoginPassword):
            user = session.auth_data.login.decode("utf-8", "replace")
        received = Received(
            envelope_from=envelope.mail_from,
            recipients=list(envelope.rcpt_tos),
            message=email.message_from_bytes(
                envelope.original_content.replace(b"\r\n", b"\n"), policy=email.policy.default
            ),
            raw=envelope.original_content,
            peer=session.peer,
            tls=server.transport.get_extra_info("ssl_object") is not None,
            authenticated_user=user,
            mail_options=list(envelope.mail_options),
        )
        with self._arrived:
            self.messages.append(received)
            self._arrived.notify_all()
        return f"250 2.0.0 OK queued as Q{next(self._queue_ids)}"


class StallingServer:
    """A listening socket that never accepts: connections complete in the kernel and never hear a byte."""

    def __init__(self):
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.bind((HOST, 0))
        self._sock.listen(16)
        self.host = HOST
        self.port = self._sock.getsockname()[1]

    def close(self) -> None:
        self._sock.close()


def _self_signed(names) -> tuple[str, str]:
    """A self-signed certificate and its key, PEM-encoded, for these host names and IP addresses."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])])
    alternative_names = []
    for name in names:
        try:
            alternative_names.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            alternative_names.append(x509.DNSName(name))
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName(alternative_names), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    return certificate.public_bytes(serialization.Encoding.PEM).decode(), key_pem


@pytest.fixture(scope="session")
def smtp_ca(tmp_path_factory) -> SmtpCa:
    """A trustme CA, with server certificates: "good", "wrong_host" (another name) and "self_signed"."""
    folder = tmp_path_factory.mktemp("smtp_ca")
    ca = trustme.CA()
    ca_file = folder / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    ca_pem = ca.cert_pem.bytes().decode()

    certificates = {}
    for kind, leaf in [
        ("good", ca.issue_cert(*SERVER_NAMES)),
        ("wrong_host", ca.issue_cert("wrong.example.org")),
    ]:
        chain_file = folder / f"{kind}.pem"
        leaf.private_key_and_cert_chain_pem.write_to_path(str(chain_file))
        certificates[kind] = ServerCertificate(str(chain_file), ca_pem)
    certificate_pem, key_pem = _self_signed(SERVER_NAMES)
    chain_file = folder / "self_signed.pem"
    chain_file.write_text(key_pem + certificate_pem)
    certificates["self_signed"] = ServerCertificate(str(chain_file), certificate_pem)
    return SmtpCa(ca=ca, ca_file=str(ca_file), ca_pem=ca_pem, certificates=certificates)


@pytest.fixture
def smtp_server_factory(smtp_ca):
    """Start SMTP servers with options; all are stopped at teardown.

    Options: mode ("plain" | "starttls" | "implicit"), require_starttls, offer_starttls, starttls_reply,
    auth ({user: password}), auth_require_tls, auth_mechanisms (offered, of LOGIN, PLAIN and CRAM-MD5;
    CRAM-MD5 always fails), replies ({"EHLO"|"MAIL"|"RCPT"|"DATA": reply}, where a
    reply is a string, (string, times) for the first times only, or a callable(address) -> string | None),
    delay (seconds before each reply line), cert ("good" | "wrong_host" | "self_signed"),
    drop_after_data, smtputf8.
    """
    servers = []

    def start(**options) -> SmtpServer:
        server = SmtpServer(smtp_ca, **options)
        servers.append(server)
        return server.start()

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def smtp_server(smtp_server_factory) -> SmtpServer:
    """A plain SMTP server without authentication."""
    return smtp_server_factory()


@pytest.fixture
def held_server(smtp_server_factory):
    """An SMTP server that holds its answer to RCPT TO until the test opens .gate (a threading.Event)."""
    gate = threading.Event()
    server = smtp_server_factory(replies={"RCPT": lambda _address: gate.wait(20) and None})
    server.gate = gate
    yield server
    gate.set()


@pytest.fixture
def stalling_server():
    """A TCP server that takes connections and never sends a byte."""
    server = StallingServer()
    yield server
    server.close()


@pytest.fixture
def closed_port() -> int:
    """A port on 127.0.0.1 with nothing listening."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


@pytest.fixture
def make_endpoint(smtp_ca):
    """Build an SmtpEndpoint for a test server: its encryption, the test CA trusted, a short timeout."""
    encryption_for_mode = {"plain": "none", "starttls": "starttls", "implicit": "ssl"}

    def make(server, **overrides) -> SmtpEndpoint:
        settings = {
            "host": server.host,
            "port": server.port,
            "encryption": encryption_for_mode[server.mode],
            "timeout": 2.0,
            "ca_file": smtp_ca.ca_file,
        }
        settings.update(overrides)
        return SmtpEndpoint(**settings)

    return make
