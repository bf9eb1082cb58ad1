"""Putting a mail into the outbox, and the operator's retry and discard of queued or failed mail."""

import secrets
from urllib.parse import urlsplit

from flask import current_app
from peewee import IntegrityError

from ..mime import one_line
from ..store import secretbox
from ..store.db import db
from ..store.models import MailServerSettings, OutboxMessage, utcnow
from . import kinds, recipients, status
from .recipients import stored_recipients

MAX_SUBJECT_LENGTH = 255
# The bodies of a kind with secret_bodies (a reset mail's link) are kept sealed, like the SMTP password,
# until sent, then erased, so the database never holds a usable token in the clear.
SEALED_PREFIX = "sealed:"
_ADDRESS_FORBIDDEN = set('<>,;"\r\n\t ')


def enqueue_mail(
    organization,
    kind: str,
    *,
    to: list[str],
    subject: str,
    body_text: str,
    body_html: str | None = None,
    cc=(),
    bcc=(),
    idempotency_key: str | None = None,
    locale: str | None = None,
    **kind_columns,
) -> OutboxMessage:
    """Queue one mail; call it inside the caller's db.atomic() so the mail and its cause commit together.

    kind is a registered kind's name (outbox/kinds.py); kind_columns are that kind's own columns (a
    reset mail's reset_token), any other kind's left None. Raises ValueError for an unknown kind, a
    malformed address or a bad subject, TypeError for a column the kind does not have. With an
    idempotency_key already used in this organization, the earlier message is returned.
    """
    mail_kind = _registered_kind(kind, kind_columns)
    recipients = {"to": _addresses(to, "to"), "cc": _addresses(cc, "cc"), "bcc": _addresses(bcc, "bcc")}
    if not recipients["to"]:
        raise ValueError("a mail needs at least one 'to' address")
    subject = one_line(subject)
    if not subject or len(subject) > MAX_SUBJECT_LENGTH:
        raise ValueError(f"the subject must be 1 to {MAX_SUBJECT_LENGTH} characters")
    if idempotency_key is not None:
        earlier = _by_idempotency_key(organization, idempotency_key)
        if earlier is not None:
            return earlier
    if mail_kind.secret_bodies:
        body_text, body_html = seal_body(body_text), seal_body(body_html)
    try:
        with db.atomic():  # a savepoint: a duplicate key raced in by another request becomes a lookup
            return OutboxMessage.create(
                organization=organization,
                kind=kind,
                recipients=stored_recipients(**recipients),
                subject=subject,
                body_text=body_text,
                body_html=body_html,
                message_id=new_message_id(organization),
                status=status.QUEUED,
                next_attempt_at=utcnow(),
                priority=mail_kind.priority,
                idempotency_key=idempotency_key,
                locale=locale,
                **kind_columns,
            )
    except IntegrityError:
        earlier = _by_idempotency_key(organization, idempotency_key) if idempotency_key else None
        if earlier is None:
            raise
        return earlier


def retry_now(message: OutboxMessage) -> bool:
    """Queue a queued or failed notice for right now with a fresh retry budget; False if not retryable."""
    if not kinds.retryable(message.kind) or message.body_text is None:
        return False
    now = utcnow()
    # Every recipient not accepted yet is tried again; those who accepted never get it twice.
    outcomes = recipients.reopened(message)
    changed = (
        OutboxMessage.update(
            status=status.QUEUED,
            next_attempt_at=now,
            attempts=0,
            lease_until=None,
            leased_by=None,
            recipient_outcomes=outcomes,
        )
        .where(OutboxMessage.id == message.id, OutboxMessage.status.in_(status.OPERATOR_ACTIONABLE))
        .execute()
    )
    if changed:
        message.status, message.next_attempt_at, message.attempts = status.QUEUED, now, 0
        message.recipient_outcomes = outcomes
    return bool(changed)


def discard(message: OutboxMessage) -> bool:
    """Mark a queued or failed mail "discarded" so it is never sent (last_error is kept); False if not."""
    fields = {"status": status.DISCARDED, "lease_until": None, "leased_by": None}
    fields.update(kinds.when_done(message, status.DISCARDED))
    changed = (
        OutboxMessage.update(**fields)
        .where(OutboxMessage.id == message.id, OutboxMessage.status.in_(status.OPERATOR_ACTIONABLE))
        .execute()
    )
    if changed:
        message.status = status.DISCARDED
    return bool(changed)


def seal_body(body: str | None) -> str | None:
    """A body as stored when it carries a secret (a kind with secret_bodies)."""
    return None if body is None else SEALED_PREFIX + secretbox.seal(body)


def open_body(stored: str | None) -> str | None:
    """A stored body as it is sent (raises secretbox.SecretUnreadable if the key changed)."""
    if stored is None or not stored.startswith(SEALED_PREFIX):
        return stored
    return secretbox.unseal(stored[len(SEALED_PREFIX) :])


def new_message_id(organization, send_from: str | None = None) -> str:
    """A Message-ID on the domain of the organization's From address (else of the base URL).

    Give send_from when the caller already has it; otherwise it is read from the settings.
    """
    if send_from is None:
        settings = MailServerSettings.get_or_none(MailServerSettings.organization == organization)
        send_from = settings.send_from if settings else ""
    domain = send_from.rpartition("@")[2]
    if not domain:
        domain = urlsplit(current_app.config.get("BASE_URL") or "").hostname or "exastro-mail.invalid"
    try:
        domain = domain.encode("idna").decode("ascii")
    except UnicodeError:
        domain = "exastro-mail.invalid"
    return f"<{secrets.token_hex(16)}@{domain}>"


def _registered_kind(name: str, kind_columns: dict) -> kinds.MailKind:
    """The registered kind of this name; kind_columns loses the columns left unset (None)."""
    kind = kinds.find(name)
    if kind is None:
        raise ValueError(f"unknown kind of mail {name!r}")
    for column, value in list(kind_columns.items()):
        if value is None:
            del kind_columns[column]
        elif column not in kind.columns:
            raise TypeError(f"a {name} mail has no column {column!r}")
    return kind


def _by_idempotency_key(organization, key: str) -> OutboxMessage | None:
    return OutboxMessage.get_or_none(
        OutboxMessage.organization == organization, OutboxMessage.idempotency_key == key
    )


def _addresses(values, field: str) -> list[str]:
    if isinstance(values, str):
        raise ValueError(f"'{field}' must be a list of addresses, not one string")
    addresses = []
    for value in values:
        address = str(value).strip()
        if address.count("@") != 1 or address.startswith("@") or address.endswith("@"):
            raise ValueError(f"'{field}' holds an address without a domain: {address!r}")
        if any(char in _ADDRESS_FORBIDDEN or ord(char) < 32 for char in address):
            raise ValueError(f"'{field}' holds a malformed address: {address!r}")
        addresses.append(address)
    return addresses
