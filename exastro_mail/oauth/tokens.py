"""Ask a token endpoint for an access token: OAuth 2.0 client credentials, or a Google service-account JWT."""

import hashlib
import json
import logging
import re
import time
from dataclasses import dataclass, field
from urllib.parse import urlencode, urlsplit

import jwt

from .. import metrics_registry
from .errors import TokenError, aadsts_code, provider_text
from .https import HttpsClient, HttpsFailure, https_url
from .service_account import ServiceAccountKey

log = logging.getLogger(__name__)

GOOGLE_MAIL_SCOPE = "https://mail.google.com/"
JWT_BEARER_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
# Google accepts assertions valid for at most an hour.
ASSERTION_LIFETIME = 3600
# An endpoint that does not say how long its token lasts is asked again after this long.
DEFAULT_EXPIRES_IN = 600

# RFC 6750's b64token: what a bearer token may contain, so it cannot break a header or an XOAUTH2 string.
_BEARER_TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")
_PERMANENT_ERRORS = {"invalid_client", "unauthorized_client", "invalid_grant"}


@dataclass(frozen=True)
class Token:
    """An access token, how long it was said to last, and when it arrived (time.monotonic())."""

    access_token: str = field(repr=False)
    expires_in: int
    obtained_at: float
    token_url: str

    def expires_at(self) -> float:
        """When the token expires, on the time.monotonic() clock."""
        return self.obtained_at + self.expires_in


@dataclass(frozen=True)
class ClientCredentials:
    """An OAuth 2.0 client-credentials grant, the secret sent in the form body (Microsoft 365, Entra ID)."""

    token_url: str
    client_id: str
    client_secret: str = field(repr=False)
    scope: str

    def identity(self) -> str:
        """A digest of all that decides which token the endpoint gives; no secret can be read from it."""
        secret = hashlib.sha256(self.client_secret.encode()).hexdigest()
        return _digest("client_credentials", self.token_url, self.client_id, secret, self.scope)

    def form(self) -> dict[str, str]:
        """The token request's form fields."""
        return {
            "grant_type": "client_credentials",
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "scope": self.scope,
        }

    def secrets(self) -> tuple[str, ...]:
        """What must never be repeated in an error or a log."""
        return (self.client_secret,)


@dataclass(frozen=True)
class ServiceAccount:
    """A service-account JWT bearer grant acting as mailbox (domain-wide delegation, Google Workspace)."""

    key: ServiceAccountKey
    mailbox: str
    scope: str = GOOGLE_MAIL_SCOPE

    @property
    def token_url(self) -> str:
        """The key's token_uri."""
        return self.key.token_uri

    def identity(self) -> str:
        """A digest of all that decides which token the endpoint gives; no key can be read from it."""
        private_key = hashlib.sha256(self.key.private_key.encode()).hexdigest()
        return _digest(
            "service_account",
            self.key.token_uri,
            self.key.client_email,
            private_key,
            self.mailbox,
            self.scope,
        )

    def form(self) -> dict[str, str]:
        """The token request's form fields, with a newly signed assertion."""
        now = int(time.time())
        claims = {
            "iss": self.key.client_email,
            "sub": self.mailbox,
            "scope": self.scope,
            "aud": self.key.token_uri,
            "iat": now,
            "exp": now + ASSERTION_LIFETIME,
        }
        headers = {"kid": self.key.private_key_id} if self.key.private_key_id else None
        assertion = jwt.encode(claims, self.key.signing_key(), algorithm="RS256", headers=headers)
        return {"grant_type": JWT_BEARER_GRANT, "assertion": assertion}

    def secrets(self) -> tuple[str, ...]:
        """What must never be repeated in an error or a log."""
        return (self.key.private_key,)


TokenSource = ClientCredentials | ServiceAccount


def _digest(*parts: str) -> str:
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()


def fetch_token(source: TokenSource, client: HttpsClient) -> Token:
    """Ask the source's token endpoint for a new token; raise TokenError with the provider's facts."""
    try:
        return _request_token(source, client)
    except TokenError as error:
        metrics_registry.token_request_failed(_host(source.token_url), error.kind)
        raise


def _request_token(source: TokenSource, client: HttpsClient) -> Token:
    url = source.token_url
    host = _host(url)
    try:
        https_url(url)
    except HttpsFailure as failure:
        raise TokenError(f"token URL: {failure.reason}", kind=failure.kind, permanent=True) from None
    form = source.form()
    secrets = (*source.secrets(), form.get("assertion", ""))
    body = urlencode(form).encode()
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "Accept": "application/json",
        "User-Agent": "exastro-mail",
    }
    try:
        answer = client.post(url, body, headers)
    except HttpsFailure as failure:
        log.warning("token request to %s failed: %s", host, failure.reason)
        raise TokenError(
            f"token request: {failure.reason}",
            kind=failure.kind,
            permanent=failure.permanent,
        ) from None

    data = _json_object(answer.body)
    if answer.status != 200:
        error = _refusal(host, answer, data, secrets)
        log.warning("token request to %s refused: %s", host, error.reason)
        raise error
    token = _token(host, url, data)
    log.info("token from %s, valid %d s", host, token.expires_in)
    return token


def _token(host: str, url: str, data: dict | None) -> Token:
    def bad(why: str) -> TokenError:
        reason = f"token endpoint {host} answered 200 but {why}"
        return TokenError(reason, kind="bad_answer", permanent=True, status=200)

    if data is None:
        raise bad("not with a JSON object")
    access_token = data.get("access_token")
    if not isinstance(access_token, str) or not access_token:
        raise bad("without an access_token")
    if not _BEARER_TOKEN.fullmatch(access_token):
        raise bad("with an access_token that is not a bearer token")
    token_type = data.get("token_type", "Bearer")
    if not isinstance(token_type, str) or token_type.lower() != "bearer":
        raise bad("with a token_type other than Bearer")
    expires_in = data.get("expires_in", DEFAULT_EXPIRES_IN)
    if isinstance(expires_in, str) and expires_in.isdigit():
        expires_in = int(expires_in)  # Entra ID's v1 endpoint sends it as a string
    if not isinstance(expires_in, int) or isinstance(expires_in, bool) or expires_in <= 0:
        raise bad("with an expires_in that is not a positive number of seconds")
    return Token(
        access_token=access_token, expires_in=expires_in, obtained_at=time.monotonic(), token_url=url
    )


def _refusal(host: str, answer, data: dict | None, secrets) -> TokenError:
    status = answer.status
    data = data or {}
    error = data.get("error") if isinstance(data.get("error"), str) else None
    error = provider_text(error, secrets)
    description = provider_text(data.get("error_description") or None, secrets)
    aadsts = aadsts_code(description, data.get("error_codes"))
    temporary = status in (408, 429) or status >= 500 or error == "temporarily_unavailable"
    permanent = error in _PERMANENT_ERRORS or not temporary
    reason = f"token endpoint {host} answered {status}"
    if error:
        reason += f" {error}"
    if description:
        reason += f": {description}"
    elif aadsts:
        reason += f" ({aadsts})"
    return TokenError(
        reason,
        kind="refused",
        permanent=permanent,
        status=status,
        retry_after=None if permanent else answer.retry_after(),
        error=error,
        error_description=description,
        aadsts=aadsts,
    )


def _json_object(body: bytes) -> dict | None:
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        return None
    return data if isinstance(data, dict) else None


def _host(url: str) -> str:
    try:
        return urlsplit(url).hostname or "the token endpoint"
    except ValueError:
        return "the token endpoint"
