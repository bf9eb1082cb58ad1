"""What went wrong reaching a token endpoint or Microsoft Graph, as facts for the layers above to explain."""

import re

# Failure kinds, for the hint a layer above picks:
#   "refused"        the provider answered with an error (see .status and the provider's fields)
#   "token_refused"  the SMTP server or Graph did not take a token: drop it and fetch a new one once
#   "bad_answer"     the answer is not what the protocol promises (not JSON, no access_token, ...)
#   "not_https"      the URL is not an https URL this client may use
#   "forbidden_host" the host policy refused the address, before any connection was made
#   "certificate"    the server's certificate did not verify against the trust given
#   "timeout", "connection", "resolve", "tls"   the network, temporary
_MAX_TEXT = 1000


class OAuthError(Exception):
    """A failure with .kind, .permanent, .status (HTTP, or None), .retry_after (seconds, or None).

    str() is one line of facts in English; it never contains a request body, secret, assertion or token.
    """

    def __init__(
        self,
        reason: str,
        *,
        kind: str,
        permanent: bool,
        status: int | None = None,
        retry_after: int | None = None,
    ):
        super().__init__(reason)
        self.reason = reason
        self.kind = kind
        self.permanent = permanent
        self.status = status
        self.retry_after = retry_after

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.reason!r}, kind={self.kind!r}, permanent={self.permanent})"


class TokenError(OAuthError):
    """The token endpoint gave no token: .error, .error_description, .aadsts (e.g. "AADSTS7000215")."""

    def __init__(
        self,
        reason: str,
        *,
        error: str | None = None,
        error_description: str | None = None,
        aadsts: str | None = None,
        **facts,
    ):
        super().__init__(reason, **facts)
        self.error = error
        self.error_description = error_description
        self.aadsts = aadsts


class TokenRefused(OAuthError):
    """The SMTP server or Graph did not take a token that the token endpoint issued."""


class GraphError(OAuthError):
    """Graph did not take the message: .code and .message from Graph's answer, .request_id."""

    def __init__(
        self,
        reason: str,
        *,
        code: str | None = None,
        message: str | None = None,
        request_id: str | None = None,
        **facts,
    ):
        super().__init__(reason, **facts)
        self.code = code
        self.message = message
        self.request_id = request_id


class GraphTokenRefused(GraphError, TokenRefused):
    """Graph answered 401 to the bearer token."""


def provider_text(value, secrets=()) -> str | None:
    """A provider's text as one line of bounded length, with any of our own secrets blanked out."""
    if value is None:
        return None
    text = " ".join(str(value).split())
    for secret in secrets:
        if secret:
            text = text.replace(secret, "[redacted]")
    if len(text) > _MAX_TEXT:
        text = text[: _MAX_TEXT - 1] + "…"
    return text


_AADSTS = re.compile(r"\bAADSTS(\d{4,8})\b")


def aadsts_code(error_description: str | None, error_codes=None) -> str | None:
    """The Entra ID error code ("AADSTS7000215") from error_codes, or else from the description."""
    if isinstance(error_codes, list) and error_codes and isinstance(error_codes[0], int):
        return f"AADSTS{error_codes[0]}"
    match = _AADSTS.search(error_description or "")
    return f"AADSTS{match.group(1)}" if match else None
