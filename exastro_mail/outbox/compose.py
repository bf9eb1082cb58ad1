"""Turning an outbox row and the organization's current settings into the message that goes on the wire."""

from dataclasses import dataclass
from datetime import UTC
from email.errors import MessageError
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime

from .enqueue import one_line, open_body, recipients_of


@dataclass(frozen=True)
class Outgoing:
    """A composed message with its SMTP envelope (Bcc only in the envelope)."""

    message: EmailMessage
    envelope_from: str
    recipients: list[str]


def compose(row, settings, organization_name: str) -> Outgoing:
    """Build the message: From, Reply-To, To, Cc, Subject, the stored Message-ID, Date, Auto-Submitted.

    Every header is set through the email package's structured headers from one-line values, so no
    value (a display name or subject holding CR/LF, say) can add a header of its own.
    Raises ValueError when a stored address cannot be used.
    """
    recipients = recipients_of(row)
    message = EmailMessage()
    message["From"] = _address(settings.send_from, settings.send_name or organization_name)
    if settings.reply_to:
        message["Reply-To"] = _address(settings.reply_to, settings.reply_name)
    message["To"] = [_address(address) for address in recipients["to"]]
    if recipients["cc"]:
        message["Cc"] = [_address(address) for address in recipients["cc"]]
    message["Subject"] = one_line(row.subject)
    message["Date"] = format_datetime(row.created_at.replace(tzinfo=UTC))
    message["Message-ID"] = row.message_id
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(open_body(row.body_text) or "")
    body_html = open_body(row.body_html)
    if body_html:
        message.add_alternative(body_html, subtype="html")
    return Outgoing(
        message=message,
        envelope_from=settings.envelope_from or settings.send_from,
        recipients=recipients["to"] + recipients["cc"] + recipients["bcc"],
    )


def _address(addr_spec: str, display_name: str | None = None) -> Address:
    try:
        return Address(display_name=one_line(display_name), addr_spec=one_line(addr_spec))
    except (ValueError, IndexError, MessageError) as error:
        raise ValueError(f"the address {addr_spec!r} cannot be used in a header: {error}") from None
