"""The audit log as people read it: newest first, each event in words, never a secret."""

import json
from dataclasses import dataclass

from ..mailserver.rules import EXTRA_FIELDS, FIELDS
from ..models import AuditEvent
from .paging import PAGE_SIZE, Page, last_page

ACTION_LABELS = {
    "login": "Logged in",
    "login_failed": "Failed login",
    "mail_server_settings.registered": "Mail sending server settings registered",
    "mail_server_settings.changed": "Mail sending server settings changed",
    "mail_server_settings.deleted": "Mail sending server settings deleted",
    "mail_server_settings.test_mail": "Test mail sent",
    "api_token.created": "API token created",
    "api_token.revoked": "API token revoked",
    "notification.queued": "Notification queued",
    "outbox.retried": "Mail retried now",
    "outbox.discarded": "Mail discarded",
    "password_reset.requested": "Password reset requested",
    "password_reset.completed": "Password reset completed",
}
DETAIL_LABELS = {
    "fields": "Fields",
    "smtp_code": "Server code",
    "failed_step": "Failed at",
    "message_id": "Mail",
    "notification_id": "Notification",
    "token_id": "Token",
}
# Details are written without secrets; these names are dropped anyway, should one ever slip in.
_NEVER_SHOWN = {"password", "authentication_password", "token", "secret", "api_token", "reset_link", "body"}
_FIELD_LABELS = {name: rule.label for name, rule in {**FIELDS, **EXTRA_FIELDS}.items()}


@dataclass(frozen=True)
class Entry:
    """One row of the audit log, as shown."""

    created_at: object
    actor: str | None
    action: str
    label: str
    details: list[tuple[str, str]]
    remote_addr: str | None


def audit_page(organization, number: int, page_size: int = PAGE_SIZE) -> Page:
    """The organization's audit events, newest first."""
    query = AuditEvent.select().where(AuditEvent.organization == organization)
    total = query.count()
    number = min(number, last_page(total, page_size))
    rows = query.order_by(AuditEvent.created_at.desc(), AuditEvent.id.desc()).paginate(number, page_size)
    return Page([describe(event) for event in rows], number, total, page_size)


def describe(event: AuditEvent) -> Entry:
    """An audit event in words: what happened and its details (field names only, for changes)."""
    return Entry(
        created_at=event.created_at,
        actor=event.actor,
        action=event.action,
        label=ACTION_LABELS.get(event.action) or _humanize(event.action),
        details=_details(event.detail),
        remote_addr=event.remote_addr,
    )


def _details(stored: str | None) -> list[tuple[str, str]]:
    try:
        detail = json.loads(stored) if stored else {}
    except ValueError:
        return []
    if not isinstance(detail, dict):
        return []
    shown = []
    for key, value in sorted(detail.items()):
        if key in _NEVER_SHOWN or value is None:
            continue
        if key == "fields" and isinstance(value, list):
            value = ", ".join(_FIELD_LABELS.get(name, name) for name in value)
        elif isinstance(value, list):
            value = ", ".join(str(item) for item in value)
        elif isinstance(value, bool):
            value = "yes" if value else "no"
        shown.append((DETAIL_LABELS.get(key) or _humanize(key), str(value)))
    return shown


def _humanize(name: str) -> str:
    words = name.replace(".", " ").replace("_", " ").strip()
    return words[:1].upper() + words[1:]
