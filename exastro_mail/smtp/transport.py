"""Hand messages to an SMTP server: connect, TLS as configured and always verified, AUTH, MAIL, RCPT, DATA."""

import contextlib
import smtplib
import socket
import time
from collections.abc import Callable
from email.message import Message

from . import hosts
from .auth import NoCommonMechanism, authenticate_password, choose_mechanism, offered_mechanisms
from .connection import (
    Client,
    Watchdog,
    check_addresses,
    describe_extensions,
    describe_tls,
    mail_options,
    message_bytes,
    send_recipients,
)
from .endpoint import (
    ENCRYPTION_NONE,
    ENCRYPTION_SSL,
    ENCRYPTION_STARTTLS,
    SmtpEndpoint,
    default_ehlo_name,
    tls_context,
)
from .errors import DeliveryError, text
from .outcome import Refusal, Sent
from .steps import SessionSteps


class SmtpSession(SessionSteps):
    """One connection to an SMTP server that delivers one or more messages; use it with `with`.

    on_step(step, detail) is told each step as it succeeds ("not used" for TLS or AUTH when they do
    not apply); the test-mail diagnosis listens to it, so it exercises exactly this code.
    """

    def __init__(
        self,
        endpoint: SmtpEndpoint,
        deadline: float | None = None,
        *,
        on_step: Callable[[str, str], None] | None = None,
    ):
        super().__init__(endpoint, deadline, on_step)
        self._transaction_open = False
        self._greeting = ""
        self._token = None

    def __enter__(self) -> "SmtpSession":
        self._started = time.monotonic()
        self._watchdog = Watchdog(self.deadline)
        try:
            self._open()
        except BaseException:
            self._quit()
            raise
        return self

    def __exit__(self, *exc_info) -> None:
        self._quit()

    def _quit(self) -> None:
        """Say QUIT where the server still waits for a command (so it logs no lost connection), then close."""
        if self._client is not None and self._client.sock is not None and self._in_step:
            with contextlib.suppress(smtplib.SMTPException, OSError):
                self._client.quit()
        self._close()

    def send(self, message: Message, envelope_from: str, recipients: list[str]) -> Sent:
        """Deliver one message: what the server took it for (its reply to DATA, the recipients it
        accepted and refused), or DeliveryError when no recipient got it."""
        client = self._client
        if client is None or client.sock is None:
            raise DeliveryError(
                "the connection to the server is closed", permanent=False, step="connect", kind="disconnected"
            )
        if self._transaction_open:
            with self._step("rset"):
                self._expect("rset", *client.rset())
            self._transaction_open = False
        check_addresses(envelope_from, recipients)
        international = not all(address.isascii() for address in (envelope_from, *recipients))
        if international and not client.has_extn("smtputf8"):
            raise DeliveryError(
                "the server does not support SMTPUTF8, which non-ASCII addresses need",
                permanent=True,
                step="mail",
                kind="smtputf8_unsupported",
            )
        with self._step("data"):
            payload = message_bytes(message, international)

        self._transaction_open = True
        with self._step("mail"):
            reply = self._expect(
                "mail", *client.mail(envelope_from, mail_options(client, payload, international))
            )
        self._report("mail", reply)

        with self._step("rcpt"):
            accepted, refused = send_recipients(client, recipients)
        self._report("rcpt", "; ".join(f"{address}: {reply}" for address, _, reply in accepted + refused))
        refusals = tuple(Refusal(address, code, reply) for address, code, reply in refused)
        if not accepted or any(refusal.code == 421 for refusal in refusals):
            self._recipients_refused(refusals)

        with self._step("data"):
            reply = self._expect("data", *client.data(payload))
        self._transaction_open = False
        self._report("data", f"message sent ({len(payload)} bytes)")
        return Sent(reply, tuple(address for address, _, _ in accepted), refusals)

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

        if endpoint.bearer is not None:
            self._token = self._fetch_token()

        with self._step("resolve"):
            policy = endpoint.host_policy or hosts.HostPolicy(deny_private=False)
            addresses = policy.check(endpoint.host, timeout=self._time_left())
        self._report("resolve", ", ".join(addresses))

        self._client = client = Client(
            endpoint.host, local_hostname=endpoint.ehlo_name or default_ehlo_name(), timeout=endpoint.timeout
        )
        with self._step("connect"):
            client.sock = self._connect(addresses)

        if endpoint.encryption == ENCRYPTION_SSL:
            with self._step("tls"):
                client.sock = context.wrap_socket(client.sock, server_hostname=endpoint.host)
            self._report("tls", describe_tls(client.sock))
        elif endpoint.encryption == ENCRYPTION_NONE:
            self._report("tls", "not used")

        with self._step("ehlo", label="greeting"):
            code, reply = client.connect(endpoint.host, endpoint.port)
            if code != 220:
                raise self._reply_error("ehlo", code, reply, label="greeting")
        self._greeting = f"{code} {text(reply)}"
        with self._step("ehlo"):
            client.ehlo_or_helo_if_needed()
        self._report("ehlo", f"greeting {self._greeting}; {describe_extensions(client)}")

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
                    f"{error.smtp_code} {text(error.smtp_error)} (STARTTLS)",
                    permanent=True,
                    step="tls",
                    smtp_code=error.smtp_code,
                    kind="starttls_refused",
                ) from error
        self._report("tls", "STARTTLS, " + describe_tls(client.sock))
        with self._step("ehlo"):
            client.ehlo_or_helo_if_needed()
        self._report("ehlo", f"greeting {self._greeting}; {describe_extensions(client)}")

    def _login(self):
        client = self._client
        if not client.has_extn("auth"):
            raise self._error(
                "the server does not offer AUTH on this connection, but a user name is set",
                permanent=True,
                step="auth",
                kind="auth_unavailable",
            )
        if self.endpoint.bearer is not None:
            self._login_xoauth2()
            return
        try:
            mechanism = choose_mechanism(offered_mechanisms(client))
        except NoCommonMechanism as error:
            raise self._error(str(error), permanent=True, step="auth", kind="auth_mechanism") from None
        with self._step("auth"):
            authenticate_password(client, mechanism, self.endpoint.username, self.endpoint.password or "")
        self._report("auth", f"accepted for {self.endpoint.username} with {mechanism}")

    def _login_xoauth2(self):
        """AUTH XOAUTH2 through the bearer (oauth.delivery.Bearer); a token refused with 535 is dropped
        and a new one tried once."""
        client, mailbox = self._client, self.endpoint.username
        bearer = self.endpoint.bearer
        with self._step("auth"):
            try:
                bearer.authenticate(client, mailbox, self._token)
            except smtplib.SMTPAuthenticationError as error:
                if error.smtp_code != 535:
                    raise
                bearer.refused(self._token)
                self._token = self._fetch_token()
                bearer.authenticate(client, mailbox, self._token)
        self._report("auth", f"XOAUTH2 accepted for {mailbox}")

    def _fetch_token(self):
        token, detail = self.endpoint.bearer.token()  # DeliveryError at step "token"
        self._report("token", detail)
        return token

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

    def _recipients_refused(self, refused: tuple[Refusal, ...]):
        """No recipient got the message: every one refused, or the server closing (421) during RCPT."""
        closing = [refusal for refusal in refused if refusal.code == 421]
        if closing:
            self._client.close()  # the whole message waits for another connection
        shown = closing or refused
        reason = "; ".join(f"{refusal.reply} (RCPT TO {refusal.address})" for refusal in shown)
        error = self._error(
            reason,
            permanent=all(refusal.permanent for refusal in shown),
            step="rcpt",
            smtp_code=shown[0].code,
        )
        error.refused = () if closing else refused
        raise error

    def _close(self):
        if self._client is not None:
            self._client.close()
            self._client = None
        self._watchdog.stop()
