"""Notifications that other tools send: checked, queued in the outbox, and reported on."""

import re
import unicodedata

from flask_babel import gettext as _

from ..mailserver.rules import check_address
from ..mailserver.store import settings_for
from ..outbox import status
from ..outbox.enqueue import enqueue_mail
from ..outbox.kinds import NOTIFICATION
from ..outbox.recipients import outcomes_by_field, recipients_of
from ..store import audit
from ..store.db import db
from ..store.models import OutboxMessage
from ..web.json_envelope import timestamp

RECIPIENT_LISTS = ("to", "cc", "bcc")
MAX_RECIPIENTS = 500
MAX_TITLE_LENGTH = 255
MAX_MESSAGE_BYTES = 1024 * 1024
IDEMPOTENCY_KEY_PATTERN = re.compile(r"[\x21-\x7e]{1,255}")


class NoMailServer(Exception):
    """The organization has no mail sending server settings: nothing can be sent."""


class IdempotencyKeyReused(Exception):
    """An Idempotency-Key came back with a different notification than the first time."""


def check_notification(body: dict) -> tuple[dict, dict[str, str]]:
    """Check a notification request. Returns (clean values, errors by field)."""
    values, errors = {}, {}
    lists = {}
    for name in RECIPIENT_LISTS:
        given = body.get(name)
        if given is None:
            lists[name] = []
        elif isinstance(given, list):
            lists[name] = given
        else:
            errors[name] = _('Give a list of mail addresses, such as ["ops@example.com"].')
    total = sum(len(addresses) for addresses in lists.values())
    if total > MAX_RECIPIENTS:
        for name, addresses in lists.items():
            if addresses:
                errors[name] = _(
                    "At most %(limit)d addresses in to, cc and bcc together; this has %(total)d.",
                    limit=MAX_RECIPIENTS,
                    total=total,
                )
    elif not lists.get("to") and "to" not in errors:
        errors["to"] = _("Give at least one address in to (cc and bcc are optional).")
    else:
        for name, addresses in lists.items():
            values[name] = []
            for index, address in enumerate(addresses):
                try:
                    values[name].append(check_address(address, True))
                except ValueError as problem:
                    errors[f"{name}[{index}]"] = str(problem)

    try:
        values["title"] = _check_title(body.get("title"))
    except ValueError as problem:
        errors["title"] = str(problem)
    try:
        values["message"] = _check_message(body.get("message"))
    except ValueError as problem:
        errors["message"] = str(problem)
    return values, errors


def _check_title(value) -> str:
    if value is None:
        raise ValueError(_("Enter a title (the mail's subject)."))
    if not isinstance(value, str):
        raise ValueError(_("The title must be text."))
    if len(value) > MAX_TITLE_LENGTH:  # counted as sent, as docs/openapi.yaml states it
        raise ValueError(_("Use at most %(max)d characters.", max=MAX_TITLE_LENGTH))
    title = value.strip()
    if not title:
        raise ValueError(_("Enter a title (the mail's subject)."))
    if any(unicodedata.category(c) in {"Cc", "Zl", "Zp"} for c in title):
        raise ValueError(_("The title must be one line, without control characters."))
    return title


def _check_message(value) -> str:
    if value is None:
        raise ValueError(_('Give the message text (it may be empty: "").'))
    if not isinstance(value, str):
        raise ValueError(_("The message must be text."))
    if "\x00" in value:
        raise ValueError(_("The message must not contain NUL characters."))
    size = len(value.encode("utf-8"))
    if size > MAX_MESSAGE_BYTES:
        raise ValueError(
            _(
                "Send at most %(limit)d bytes (1 MiB) of text; this message has %(size)d.",
                limit=MAX_MESSAGE_BYTES,
                size=size,
            )
        )
    return value


def idempotency_key_problem(key: str) -> str | None:
    """Why an Idempotency-Key header is not acceptable, or None."""
    if not IDEMPOTENCY_KEY_PATTERN.fullmatch(key):
        return _("Use 1 to 255 visible ASCII characters, such as a UUID.")
    return None


def queue_notification(organization, values: dict, idempotency_key: str | None, actor: str):
    """Queue a checked notification in the outbox. Returns (message, queued now?): a repeated
    Idempotency-Key returns the first message. Raises NoMailServer or IdempotencyKeyReused."""
    with db.atomic():
        if idempotency_key is not None:
            first = OutboxMessage.get_or_none(
                OutboxMessage.organization == organization,
                OutboxMessage.idempotency_key == idempotency_key,
            )
            if first is not None:
                if first.kind != NOTIFICATION.name or not _same_notification(first, values):
                    raise IdempotencyKeyReused
                return first, False
        if settings_for(organization) is None:
            raise NoMailServer
        message = enqueue_mail(
            organization,
            NOTIFICATION.name,
            to=values["to"],
            cc=values["cc"],
            bcc=values["bcc"],
            subject=values["title"],
            body_text=values["message"],
            idempotency_key=idempotency_key,
        )
        # enqueue_mail returns the earlier message if a concurrent request committed the same key.
        if idempotency_key is not None and not _same_notification(message, values):
            raise IdempotencyKeyReused
        audit.record(
            organization,
            "notification.queued",
            actor=actor,
            notification_id=message.id,
            **{name: len(values[name]) for name in RECIPIENT_LISTS},
        )
    return message, True


def _same_notification(message: OutboxMessage, values: dict) -> bool:
    recipients = recipients_of(message)
    return (
        all(recipients[name] == values[name] for name in RECIPIENT_LISTS)
        and message.subject == values["title"]
        and (message.body_text is None or message.body_text == values["message"])
    )


def find_notification(organization, notification_id: str) -> OutboxMessage | None:
    """The organization's notification with this id (a decimal string), or None."""
    if not re.fullmatch(r"[0-9]{1,18}", notification_id):
        return None
    return OutboxMessage.get_or_none(
        OutboxMessage.id == int(notification_id),
        OutboxMessage.organization == organization,
        OutboxMessage.kind == NOTIFICATION.name,
    )


def notification_json(message: OutboxMessage) -> dict:
    """What a caller may see of a notification: its progress, never its text or addresses."""
    recipients = recipients_of(message)
    return {
        "id": message.id,
        "status": message.status,
        "attempts": message.attempts,
        "last_error": message.last_error,
        "title": message.subject,
        "recipient_count": {name: len(recipients[name]) for name in RECIPIENT_LISTS},
        # By position in to, cc and bcc, as the caller gave them: the addresses are not repeated.
        "recipient_outcomes": outcomes_by_field(message),
        "created_at": timestamp(message.created_at),
        "next_attempt_at": timestamp(message.next_attempt_at) if message.status == status.QUEUED else None,
        "sent_at": timestamp(message.sent_at),
    }
