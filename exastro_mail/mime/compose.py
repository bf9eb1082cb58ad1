"""One composer for every mail: password reset, notices, notifications and the test mail."""

import io
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.charset import QP, Charset
from email.generator import BytesGenerator
from email.message import Message
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.policy import compat32
from email.utils import format_datetime

from .headers import HeaderTextError, address_header, header_text

_MESSAGE_ID = re.compile(r"<[!-;=?-~]+@[!-;=?-~]+>")
_BODY = Charset("utf-8")
_BODY.body_encoding = QP


@dataclass(frozen=True)
class Mail:
    """What a mail says, as plain values; compose() turns it into a message."""

    from_address: str
    subject: str
    text: str
    to: list[str]
    message_id: str
    date: datetime
    from_name: str | None = None
    reply_to: str | None = None
    reply_name: str | None = None
    cc: list[str] = field(default_factory=list)
    html: str | None = None


def compose(mail: Mail) -> Message:
    """The message: From, Reply-To, To, Cc, Subject, Date, Message-ID, Auto-Submitted, and a text part
    with an HTML alternative when there is one. Raises HeaderTextError for a value that cannot be a
    header (the mail cannot be sent as it is: a permanent failure)."""
    if not _MESSAGE_ID.fullmatch(mail.message_id):
        raise HeaderTextError(f"{mail.message_id!r} is not a Message-ID")
    if not mail.to:
        raise HeaderTextError("the mail has no To address")
    text = MIMEText(mail.text, "plain", _BODY)
    if mail.html:
        message = MIMEMultipart("alternative", policy=compat32)
        message.attach(text)
        message.attach(MIMEText(mail.html, "html", _BODY))
    else:
        message = text
    message["From"] = address_header(mail.from_address, mail.from_name)
    if mail.reply_to:
        message["Reply-To"] = address_header(mail.reply_to, mail.reply_name)
    message["To"] = ", ".join(address_header(address) for address in mail.to)
    if mail.cc:
        message["Cc"] = ", ".join(address_header(address) for address in mail.cc)
    message["Subject"] = header_text(mail.subject, "subject")
    date = mail.date.astimezone(UTC) if mail.date.tzinfo else mail.date.replace(tzinfo=UTC)
    message["Date"] = format_datetime(date)
    message["Message-ID"] = mail.message_id
    message["Auto-Submitted"] = "auto-generated"
    return message


def message_bytes(message: Message) -> bytes:
    """The message as it goes over the wire (SMTP DATA, Graph's MIME body): CRLF line ends, no Bcc."""
    del message["Bcc"]
    with io.BytesIO() as buffer:
        BytesGenerator(buffer, policy=compat32.clone(linesep="\r\n")).flatten(message)
        return buffer.getvalue()
