"""Send a MIME message through Microsoft Graph: POST /v1.0/users/<mailbox>/sendMail, base64 as text/plain."""

import base64
import json
import logging
from urllib.parse import quote, urlsplit

from .errors import GraphError, GraphTokenRefused, provider_text
from .https import HttpsClient, HttpsFailure, https_url
from .tokens import Token

log = logging.getLogger(__name__)

GRAPH_URL = "https://graph.microsoft.com"
GRAPH_SCOPE = "https://graph.microsoft.com/.default"

# A user principal name or object id; "/", "?", "#", "%", "\" or spaces would change the request's path.
_PATH_BREAKERS = set("/?#%\\")


def graph_base_url(graph_url: str) -> str:
    """The Graph base URL without a trailing slash; raise ValueError saying what is wrong with it."""
    try:
        parts = https_url(graph_url, allow_query=False)
    except HttpsFailure as failure:
        raise ValueError(f"Graph URL: {failure.reason}") from None
    return parts.geturl().rstrip("/")


def send_mail_url(graph_url: str, mailbox: str) -> str:
    """The sendMail URL for this mailbox; raise ValueError for a mailbox that could change the path."""
    if (
        not mailbox
        or not mailbox.isascii()
        or not mailbox.isprintable()
        or any(ch.isspace() or ch in _PATH_BREAKERS for ch in mailbox)
        or mailbox in (".", "..")
    ):
        raise ValueError(
            "the mailbox must be a user principal name or object id (no /, ?, #, %, \\ or spaces)"
        )
    return f"{graph_base_url(graph_url)}/v1.0/users/{quote(mailbox, safe='@')}/sendMail"


def send_mail(client: HttpsClient, graph_url: str, mailbox: str, message: bytes, token: Token) -> str:
    """Hand the MIME message to Graph as mailbox; return Graph's request-id (202), or raise GraphError.

    GraphTokenRefused (401) means the token should be dropped and the send tried once with a new one.
    """
    url = send_mail_url(graph_url, mailbox)
    host = urlsplit(url).hostname
    headers = {
        "Authorization": f"Bearer {token.access_token}",
        "Content-Type": "text/plain",
        "Accept": "application/json",
        "User-Agent": "exastro-mail",
    }
    try:
        answer = client.post(url, base64.b64encode(message), headers)
    except HttpsFailure as failure:
        log.warning("Graph sendMail for %s failed: %s", mailbox, failure.reason)
        raise GraphError(
            f"Graph sendMail: {failure.reason}", kind=failure.kind, permanent=failure.permanent
        ) from None
    request_id = provider_text(answer.headers.get("request-id"))
    if answer.status == 202:
        log.info("Graph %s accepted a message from %s (request-id %s)", host, mailbox, request_id)
        return request_id or ""

    code, text = _graph_error(answer.body, (token.access_token,))
    status = answer.status
    temporary = status in (408, 429) or status >= 500
    reason = f"Graph {host} answered {status}" + (f" {code}" if code else "") + (f": {text}" if text else "")
    facts = {
        "status": status,
        "code": code,
        "message": text,
        "request_id": request_id,
        "retry_after": answer.retry_after() if temporary else None,
    }
    log.warning("Graph sendMail for %s refused: %s", mailbox, reason)
    if status == 401:
        raise GraphTokenRefused(reason, kind="token_refused", permanent=True, **facts)
    raise GraphError(reason, kind="refused", permanent=not temporary, **facts)


def _graph_error(body: bytes, secrets) -> tuple[str | None, str | None]:
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        return None, None
    error = data.get("error") if isinstance(data, dict) else None
    if not isinstance(error, dict):
        return None, None
    code = error.get("code") if isinstance(error.get("code"), str) else None
    message = error.get("message") if isinstance(error.get("message"), str) else None
    return provider_text(code, secrets), provider_text(message, secrets)
