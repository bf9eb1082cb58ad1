"""The delivery log: an organization's outbox, newest first, and the operator's retry and discard.

Bodies never leave this module (a reset mail's body holds its link): rows are read without them.
"""

from dataclasses import dataclass

from flask_babel import lazy_gettext as _l

from ..outbox import kinds, status
from ..outbox.enqueue import discard, retry_now
from ..outbox.recipients import outcomes_by_field, recipients_of
from ..store import audit
from ..store.db import db
from ..store.models import OutboxMessage
from .filters import Filters, choice, read_common
from .paging import Page, Position, seek

STATUSES = status.ALL
STATUS_LABELS = {
    status.QUEUED: _l("Queued"),
    status.SENDING: _l("Sending"),
    status.SENT: _l("Sent"),
    status.FAILED: _l("Failed"),
    status.EXPIRED: _l("Expired"),
    status.DISCARDED: _l("Discarded"),
}
# Every column the log shows; body_text and body_html are deliberately not among them.
_LISTED_COLUMNS = (
    OutboxMessage.id,
    OutboxMessage.kind,
    OutboxMessage.recipients,
    OutboxMessage.recipient_outcomes,
    OutboxMessage.subject,
    OutboxMessage.status,
    OutboxMessage.attempts,
    OutboxMessage.next_attempt_at,
    OutboxMessage.last_error,
    OutboxMessage.created_at,
    OutboxMessage.sent_at,
    # Whether a body is left to send again: retention erases bodies (store/retention.py).
    OutboxMessage.body_text.is_null(False).alias("has_body"),
)


@dataclass(frozen=True)
class Delivery:
    """One row of the delivery log, as shown."""

    id: int
    created_at: object
    kind: str
    kind_label: str  # in the reader's language, like status_label
    recipients: dict[str, list[tuple[str, dict]]]  # each address with its outcome (outbox/recipients.py)
    subject: str
    status: str
    status_label: str
    attempts: int
    next_attempt_at: object
    last_error: str | None
    can_retry: bool
    can_discard: bool


def read_filters(args) -> tuple[Filters, str | None]:
    """The delivery log's filters from the query string, and the status asked for (None: all)."""
    filters = read_common(args)
    return filters, choice(args, "status", STATUSES, filters)


def delivery_page(
    organization,
    filters: Filters | None = None,
    status_filter: str | None = None,
    position: Position | None = None,
) -> Page:
    """The organization's mail, newest first, optionally of one status, within the date range (by
    default: the newest page of all of it).

    Seeks on the index (organization, created_at, id), or (organization, status, created_at, id)."""
    filters, position = filters or Filters(), position or Position()
    query = OutboxMessage.select(*_LISTED_COLUMNS).where(OutboxMessage.organization == organization)
    if status_filter is not None:
        query = query.where(OutboxMessage.status == status_filter)
    query = filters.date_range(OutboxMessage, query)
    return seek(query, OutboxMessage, position, filters.page_size, _delivery)


def _delivery(row: OutboxMessage) -> Delivery:
    actionable = row.status in status.OPERATOR_ACTIONABLE and not _test_record(row)
    return Delivery(
        id=row.id,
        created_at=row.created_at,
        kind=row.kind,
        kind_label=str(kinds.LABELS.get(row.kind, row.kind)),
        recipients=_with_outcomes(row),
        subject=row.subject,
        status=row.status,
        status_label=str(STATUS_LABELS.get(row.status, row.status)),
        attempts=row.attempts,
        next_attempt_at=row.next_attempt_at if row.status == status.QUEUED else None,
        last_error=row.last_error,
        can_retry=actionable and kinds.retryable(row.kind) and bool(row.has_body),
        can_discard=actionable,
    )


def _with_outcomes(row: OutboxMessage) -> dict[str, list[tuple[str, dict]]]:
    outcomes = outcomes_by_field(row)
    return {
        field: list(zip(addresses, outcomes[field], strict=True))
        for field, addresses in recipients_of(row).items()
    }


def _test_record(row) -> bool:
    """A failed test mail: the record of a test that ran (logs/test_mails.py), with nothing to discard."""
    return row.kind == kinds.TEST_MAIL.name and row.status == status.FAILED


def find_message(organization, message_id: int) -> OutboxMessage | None:
    """One of the organization's outbox messages, or None."""
    return OutboxMessage.get_or_none(
        OutboxMessage.id == message_id, OutboxMessage.organization == organization
    )


def retry_message(message: OutboxMessage, actor: str) -> bool:
    """Queue a failed or queued mail for right now, audited; False if it cannot be retried."""
    with db.atomic():
        done = retry_now(message)
        if done:
            audit.record(
                message.organization, "outbox.retried", actor=actor, message_id=message.id, kind=message.kind
            )
    return done


def discard_message(message: OutboxMessage, actor: str) -> bool:
    """Drop a failed or queued mail so it is never sent, audited; False if it cannot be discarded."""
    if _test_record(message):
        return False
    with db.atomic():
        done = discard(message)
        if done:
            audit.record(
                message.organization,
                "outbox.discarded",
                actor=actor,
                message_id=message.id,
                kind=message.kind,
            )
    return done
