"""A Google service account's JSON key, checked before it is stored or used."""

import json
import re
from dataclasses import dataclass, field

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from .https import HttpsFailure, https_url

# A key file is about 2.3 kB; far more than that is something else pasted by mistake.
MAX_KEY_BYTES = 64 * 1024

_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_IDENTIFIER = re.compile(r"[a-z_]{1,40}")


class ServiceAccountKeyError(ValueError):
    """The text is not a usable service-account key; .problem names what is wrong (never the key itself).

    problem: "too_large", "not_json", "not_an_object", "wrong_type", "client_email_missing",
    "client_email_invalid", "private_key_missing", "private_key_unloadable", "private_key_not_rsa",
    "token_uri_missing", "token_uri_not_https".
    """

    def __init__(self, problem: str, reason: str):
        super().__init__(reason)
        self.problem = problem
        self.reason = reason


@dataclass(frozen=True)
class ServiceAccountKey:
    """The parts of a service-account key that sign a token request."""

    client_email: str
    private_key: str = field(repr=False)
    token_uri: str
    private_key_id: str | None = None
    project_id: str | None = None

    def signing_key(self) -> rsa.RSAPrivateKey:
        """The private key, loaded."""
        return serialization.load_pem_private_key(self.private_key.encode(), password=None)


def parse_service_account_key(text: str | bytes) -> ServiceAccountKey:
    """Check a service-account JSON key and return its parts; raise ServiceAccountKeyError if unusable."""
    data = _json_object(text)
    _check_type(data.get("type"))
    return ServiceAccountKey(
        client_email=_client_email(data.get("client_email")),
        private_key=_private_key(data.get("private_key")),
        token_uri=_token_uri(data.get("token_uri")),
        private_key_id=_optional_text(data.get("private_key_id")),
        project_id=_optional_text(data.get("project_id")),
    )


def _json_object(text: str | bytes) -> dict:
    if isinstance(text, bytes):
        if len(text) > MAX_KEY_BYTES:
            raise ServiceAccountKeyError("too_large", "the key is larger than a service account key can be")
        try:
            text = text.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise ServiceAccountKeyError("not_json", "the key is not UTF-8 JSON text") from None
    if len(text.encode("utf-8", "surrogatepass")) > MAX_KEY_BYTES:
        raise ServiceAccountKeyError("too_large", "the key is larger than a service account key can be")
    try:
        data = json.loads(text.lstrip("\ufeff"))
    except json.JSONDecodeError as error:
        # The position is safe to show; error.doc (the text) is not.
        raise ServiceAccountKeyError(
            "not_json", f"the key is not JSON ({error.msg} at line {error.lineno} column {error.colno})"
        ) from None
    except RecursionError:
        raise ServiceAccountKeyError("not_json", "the key is not JSON a key file holds") from None
    if not isinstance(data, dict):
        raise ServiceAccountKeyError("not_an_object", "the key is JSON but not an object ({...})")
    return data


def _check_type(key_type) -> None:
    if key_type is None:
        raise ServiceAccountKeyError(
            "wrong_type", "the key has no type; a service account key's is 'service_account'"
        )
    if key_type != "service_account":
        shown = f" '{key_type}'" if isinstance(key_type, str) and _IDENTIFIER.fullmatch(key_type) else ""
        raise ServiceAccountKeyError(
            "wrong_type", f"the key's type{shown} is not 'service_account': download a service account key"
        )


def _client_email(client_email) -> str:
    if not isinstance(client_email, str) or not client_email.strip():
        raise ServiceAccountKeyError("client_email_missing", "the key has no client_email")
    if not _EMAIL.fullmatch(client_email) or not client_email.isascii():
        raise ServiceAccountKeyError("client_email_invalid", "the key's client_email is not a mail address")
    return client_email


def _private_key(private_key) -> str:
    if not isinstance(private_key, str) or not private_key.strip():
        raise ServiceAccountKeyError("private_key_missing", "the key has no private_key")
    try:
        loaded = serialization.load_pem_private_key(private_key.encode(), password=None)
    except (ValueError, TypeError, UnicodeError):
        raise ServiceAccountKeyError(
            "private_key_unloadable", "the key's private_key is not an unencrypted PEM private key"
        ) from None
    if not isinstance(loaded, rsa.RSAPrivateKey):
        raise ServiceAccountKeyError(
            "private_key_not_rsa", "the key's private_key is not an RSA key, which RS256 signing needs"
        )
    return private_key


def _token_uri(token_uri) -> str:
    if not isinstance(token_uri, str) or not token_uri.strip():
        raise ServiceAccountKeyError("token_uri_missing", "the key has no token_uri")
    try:
        https_url(token_uri)
    except HttpsFailure as failure:
        reason = f"the key's token_uri: {failure.reason}"
        raise ServiceAccountKeyError("token_uri_not_https", reason) from None
    return token_uri


def _optional_text(value) -> str | None:
    return value if isinstance(value, str) and value else None
