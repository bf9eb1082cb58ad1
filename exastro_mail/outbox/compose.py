"""Turning an outbox row and the organization's current settings into the message that goes on the wire."""

from dataclasses import dataclass
from email.message import Message

from ..mailserver.fields import stored_values
from ..mailserver.sender import sender_for
from ..mime import HeaderTextError, Mail, one_line
from ..mime import compose as compose_mail
from .enqueue import open_body
from .recipients import recipients_of, still_to_send


@dataclass(frozen=True)
class Outgoing:
    """A composed message with its SMTP envelope (Bcc only in the envelope): the recipients not yet
    accepted nor refused for good."""

    message: Message
    envelope_from: str
    recipients: list[str]


def compose(row, settings, organization_name: str) -> Outgoing:
    """Build the message through exastro_mail.mime, so no value (a title or display name holding an
    encoded line break, say) can add a header of its own. Raises ValueError when a stored address or
    text cannot be used."""
    recipients = recipients_of(row)
    sender = sender_for(stored_values(settings), organization_name)
    mail = Mail(
        from_address=sender.from_address,
        from_name=sender.from_name,
        reply_to=sender.reply_to,
        reply_name=sender.reply_name,
        to=recipients["to"],
        cc=recipients["cc"],
        subject=one_line(row.subject),
        text=open_body(row.body_text) or "",
        html=open_body(row.body_html) or None,
        message_id=row.message_id,
        date=row.created_at,
    )
    try:
        message = compose_mail(mail)
    except HeaderTextError as error:
        raise ValueError(f"the mail cannot be composed: {error}") from None
    return Outgoing(
        message=message,
        envelope_from=sender.envelope_from,
        recipients=still_to_send(row),
    )
