"""OAuth 2.0 as a delivery uses it: an organization's tokens (Bearer), their failures as DeliveryError,
and Microsoft Graph as a session like SmtpSession (same steps reported, same errors raised)."""

import copy
import io
import time
from collections.abc import Callable
from dataclasses import dataclass
from email.generator import BytesGenerator
from email.message import Message
from email.utils import getaddresses

from ..smtp.errors import DeliveryError
from ..smtp.outcome import Sent
from .cache import TokenCache
from .errors import GraphError, GraphTokenRefused, OAuthError, TokenError
from .graph import send_mail
from .https import HttpsClient
from .tokens import Token, TokenSource
from .xoauth2 import authenticate_xoauth2


@dataclass(frozen=True)
class Bearer:
    """Where a transport gets an organization's token, and where it says that a token was refused."""

    cache: TokenCache
    organization: str
    source: TokenSource
    client: HttpsClient

    @property
    def token_url(self) -> str:
        return self.source.token_url

    def token(self) -> tuple[Token, str]:
        """A token (kept, or new) and the token step's detail; raise DeliveryError at step "token"."""
        asked_at = time.monotonic()
        try:
            token = self.cache.get(self.organization, self.source, self.client)
        except OAuthError as error:
            raise token_failure(error) from None
        minutes = max(0, int((token.expires_at() - time.monotonic()) // 60))
        if token.obtained_at >= asked_at:
            return token, f"asked {self.token_url} for a token: got one, valid {minutes} min"
        return token, f"a token from {self.token_url}, obtained earlier, valid {minutes} min more"

    def authenticate(self, smtp, mailbox: str, token: Token) -> tuple[int, bytes]:
        """AUTH XOAUTH2 with token on a connected smtplib.SMTP (XOAuth2Refused on 535)."""
        return authenticate_xoauth2(smtp, mailbox, token)

    def refused(self, token: Token) -> None:
        """The server did not take this token: the next one is fetched anew."""
        self.cache.drop(self.organization, self.source, token)


def token_failure(error: OAuthError) -> DeliveryError:
    """A token endpoint's failure as the step "token" of a delivery (kind "token_<oauth kind>")."""
    provider_code = None
    if isinstance(error, TokenError):
        provider_code = error.aadsts or error.error
    return DeliveryError(
        error.reason,
        permanent=error.permanent,
        step="token",
        kind=f"token_{error.kind}",
        provider_code=provider_code,
        http_status=error.status,
        retry_after=error.retry_after,
    )


def graph_failure(error: GraphError) -> DeliveryError:
    """A Graph sendMail failure as the step "sendmail" (kind "graph_<oauth kind>")."""
    return DeliveryError(
        error.reason,
        permanent=error.permanent,
        step="sendmail",
        kind=f"graph_{error.kind}",
        provider_code=error.code,
        http_status=error.status,
        retry_after=error.retry_after,
    )


def graph_message_bytes(message: Message, recipients: list[str]) -> bytes:
    """The MIME Graph sends: Graph takes the recipients from the headers, so those of the envelope that
    To and Cc do not name go in Bcc (which Graph does not pass on)."""
    message = copy.copy(message)
    shown = message.get_all("To", []) + message.get_all("Cc", [])
    named = {address.lower() for _name, address in getaddresses([str(value) for value in shown])}
    del message["Bcc"]
    del message["Resent-Bcc"]
    hidden = [address for address in recipients if address.lower() not in named]
    if hidden:
        message["Bcc"] = ", ".join(hidden)
    international = not all(address.isascii() for address in recipients)
    policy = message.policy.clone(utf8=True) if international and hasattr(message.policy, "utf8") else None
    with io.BytesIO() as buffer:
        generator = BytesGenerator(buffer, policy=policy) if policy else BytesGenerator(buffer)
        generator.flatten(message, linesep="\r\n")
        return buffer.getvalue()


class GraphSession:
    """Microsoft Graph sendMail for one organization, used like SmtpSession (`with`, send, on_step).

    The token is fetched on entering (step "token"); a 401 drops it and the message is sent once more
    with a new one.
    """

    def __init__(
        self,
        graph_url: str,
        mailbox: str,
        bearer: Bearer,
        *,
        on_step: Callable[[str, str], None] | None = None,
    ):
        self.graph_url = graph_url
        self.mailbox = mailbox
        self.bearer = bearer
        self._on_step = on_step
        self._token: Token | None = None

    def __enter__(self) -> "GraphSession":
        self._token = self._fetch()
        return self

    def __exit__(self, *exc_info) -> None:
        self._token = None

    def send(self, message: Message, envelope_from: str, recipients: list[str]) -> Sent:
        """Hand one message to Graph; return what Graph answered, or raise DeliveryError."""
        try:
            payload = graph_message_bytes(message, recipients)
        except (ValueError, UnicodeError, LookupError) as error:
            raise DeliveryError(f"the message cannot be sent: {error}", permanent=True, step="data") from None
        try:
            request_id = self._send(payload)
        except GraphTokenRefused:
            self.bearer.refused(self._token)
            self._token = self._fetch()
            try:
                request_id = self._send(payload)
            except GraphTokenRefused as error:
                raise graph_failure(error) from None
        reply = f"202 Accepted (request-id {request_id or 'none'})"
        self._report("sendmail", f"POST {self.graph_url}/v1.0/users/{self.mailbox}/sendMail: {reply}")
        return Sent(reply, tuple(recipients))  # Graph takes the message for every recipient or none

    def _send(self, payload: bytes) -> str:
        try:
            return send_mail(self.bearer.client, self.graph_url, self.mailbox, payload, self._token)
        except GraphTokenRefused:
            raise
        except GraphError as error:
            raise graph_failure(error) from None
        except ValueError as error:
            raise DeliveryError(str(error), permanent=True, step="sendmail", kind="graph_invalid") from None

    def _fetch(self) -> Token:
        token, detail = self.bearer.token()
        self._report("token", detail)
        return token

    def _report(self, step: str, detail: str) -> None:
        if self._on_step is not None:
            self._on_step(step, detail)


__all__ = ["Bearer", "GraphSession", "graph_failure", "graph_message_bytes", "token_failure"]
