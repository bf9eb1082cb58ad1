"""SMTP AUTH XOAUTH2 (Microsoft 365, Google): the initial client response, sent through smtplib's auth()."""

import re
import smtplib

from .errors import TokenRefused
from .tokens import Token

# A mailbox goes between "user=" and \x01; anything but printable ASCII could end that field early.
_MAILBOX = re.compile(r"[\x21-\x7e]+")


class XOAuth2Refused(smtplib.SMTPAuthenticationError, TokenRefused):
    """The server answered 535 to AUTH XOAUTH2; .smtp_code, .smtp_error, and .challenge if it sent one.

    The token may be stale: drop it and try once with a new one. If that is refused too, the mailbox or
    the app's permissions are the cause (Microsoft's 535 5.7.3: SMTP AUTH disabled, no SMTP.SendAsApp).
    """

    def __init__(self, code: int, reply: bytes, challenge: str | None):
        smtplib.SMTPAuthenticationError.__init__(self, code, reply)
        text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
        TokenRefused.__init__(
            self, f"{code} {' '.join(text.split())} (AUTH XOAUTH2)", kind="token_refused", permanent=True
        )
        self.args = (code, reply)
        self.challenge = challenge

    def __str__(self) -> str:
        return self.reason


class XOAuth2Unavailable(smtplib.SMTPNotSupportedError):
    """The server does not offer AUTH XOAUTH2 on this connection."""


def xoauth2_string(mailbox: str, access_token: str) -> str:
    """The XOAUTH2 initial client response, before base64: user=<mailbox>^Aauth=Bearer <token>^A^A."""
    if not _MAILBOX.fullmatch(mailbox):
        raise ValueError("the mailbox must be printable ASCII without spaces for AUTH XOAUTH2")
    if not _MAILBOX.fullmatch(access_token):
        raise ValueError("the access token is not printable ASCII")
    return f"user={mailbox}\x01auth=Bearer {access_token}\x01\x01"


def authenticate_xoauth2(smtp: smtplib.SMTP, mailbox: str, token: Token) -> tuple[int, bytes]:
    """AUTH XOAUTH2 on a connected (and encrypted) smtplib.SMTP; return the server's (code, reply).

    Raises XOAuth2Unavailable if the server does not offer it, XOAuth2Refused on 535, and smtplib's
    SMTPAuthenticationError for any other refusal. The string is never logged: smtplib's debug output
    is off while it is sent.
    """
    smtp.ehlo_or_helo_if_needed()
    offered = smtp.esmtp_features.get("auth", "").upper().split() if smtp.has_extn("auth") else []
    if "XOAUTH2" not in offered:
        raise XOAuth2Unavailable(
            "the server does not offer AUTH XOAUTH2"
            + (f" (it offers {' '.join(offered)})" if offered else " on this connection")
        )
    response = xoauth2_string(mailbox, token.access_token)
    challenges: list[str] = []

    def answer(challenge: bytes | None = None) -> str:
        if challenge is None:
            return response
        # A challenge after the initial response is the server's error (Google: base64 JSON);
        # the client answers with an empty line and the server then says 535.
        challenges.append(challenge.decode("utf-8", "replace"))
        return ""

    debuglevel = smtp.debuglevel
    smtp.set_debuglevel(0)
    try:
        return smtp.auth("XOAUTH2", answer, initial_response_ok=True)
    except smtplib.SMTPAuthenticationError as error:
        if error.smtp_code == 535:
            raise XOAuth2Refused(
                error.smtp_code, error.smtp_error, challenges[0] if challenges else None
            ) from None
        raise
    finally:
        smtp.set_debuglevel(debuglevel)
