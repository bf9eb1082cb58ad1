"""Test mails in the delivery log: the settings page sends them itself, not through the outbox, so each is
written here as a finished outbox row of kind test_mail (sent or failed), which no worker ever claims."""

import json
from email.header import decode_header, make_header
from email.utils import make_msgid

from ..mailserver.signals import test_mail_sent
from ..outbox import kinds, recipients, status
from ..store.db import insert_row
from ..store.models import OutboxMessage, utcnow


def _subject(message) -> str:
    if message is None or message["Subject"] is None:
        return "Test mail"
    return str(make_header(decode_header(str(message["Subject"]))))[:255]


@test_mail_sent.connect
def record_test_mail(organization, *, message, recipient, report, **_ignored):
    """Write the test mail that was just tried as a row of the delivery log."""
    now, ok, reply = utcnow(), report.ok, report.reply[:500]
    failed_step = report.failed_step
    outcome = {"status": recipients.ACCEPTED if ok else recipients.REFUSED, "reply": None if ok else reply}
    insert_row(
        OutboxMessage,
        organization=organization,
        kind=kinds.TEST_MAIL.name,
        recipients=recipients.stored_recipients(to=[recipient]),
        recipient_outcomes=json.dumps({recipient: outcome}),
        subject=_subject(message),
        message_id=(message["Message-ID"] if message is not None else None) or make_msgid(),
        status=status.SENT if ok else status.FAILED,
        attempts=1,
        next_attempt_at=now,
        last_error=None if ok else (f"{failed_step}: {reply}" if failed_step else reply)[:1000],
        created_at=now,
        sent_at=now if ok else None,
    )
