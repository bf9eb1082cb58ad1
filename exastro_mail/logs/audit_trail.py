"""The audit log as people read it: newest first, each event in words, never a secret."""

import json
from dataclasses import dataclass

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from peewee import SQL, NodeList, fn

from ..mailserver.fields import FIELDS
from ..mailserver.hints import STEP_NAMES
from ..outbox import kinds
from ..store.models import AuditEvent
from .filters import Filters, choice, read_common, text
from .paging import Page, Position, seek

ACTION_LABELS = {
    "login": _l("Logged in"),
    "login_failed": _l("Failed login"),
    "mail_server_settings.registered": _l("Mail sending server settings registered"),
    "mail_server_settings.changed": _l("Mail sending server settings changed"),
    "mail_server_settings.deleted": _l("Mail sending server settings deleted"),
    "mail_server_settings.test_mail": _l("Test mail sent"),
    "api_token.created": _l("API token created"),
    "api_token.revoked": _l("API token revoked"),
    "notification.queued": _l("Notification queued"),
    "outbox.retried": _l("Mail retried now"),
    "outbox.discarded": _l("Mail discarded"),
    "password_reset.requested": _l("Password reset requested"),
    "password_reset.resolved": _l("Password reset request checked"),
    "password_reset.completed": _l("Password reset completed"),
    "account.password_changed": _l("Password changed on the account page"),
}
DETAIL_LABELS = {
    "fields": _l("Fields"),
    "smtp_code": _l("Server code"),
    "failed_step": _l("Failed at"),
    "message_id": _l("Mail"),
    "notification_id": _l("Notification"),
    "token_id": _l("Token"),
    "name": _l("Name"),
    "kind": _l("Kind"),
    "recipient": _l("Recipient"),
    "result": _l("Result"),
    "reply": _l("Server reply"),
    "tested": _l("Tested"),
    "user": _l("User"),
    "account": _l("Account"),
    "mail": _l("Mail"),
    "via": _l("Via"),
    "to": _l("To"),
    "cc": _l("Cc"),
    "bcc": _l("Bcc"),
}
# Details are stored as English words; these are shown in the reader's language.
VALUE_LABELS = {
    "result": {"accepted": _l("accepted"), "failed": _l("failed")},
    "tested": {"saved settings": _l("saved settings"), "unsaved values": _l("unsaved values")},
    "mail": {"queued": _l("queued"), "not sent: rate limit": _l("not sent: rate limit")},
    "account": {"unknown": _l("unknown")},
    "via": {"api": _l("API")},
    "kind": kinds.LABELS,
}
# Details are written without secrets; these names are dropped anyway, should one ever slip in.
_NEVER_SHOWN = {"password", "authentication_password", "token", "secret", "api_token", "reset_link", "body"}
_FIELD_LABELS = {name: declared.label for name, declared in FIELDS.items()}
_STEP_NAMES = set(STEP_NAMES.values())


@dataclass(frozen=True)
class Entry:
    """One row of the audit log, as shown."""

    created_at: object
    actor: str | None
    action: str
    label: str
    details: list[tuple[str, str]]
    remote_addr: str | None


@dataclass(frozen=True)
class AuditFilters:
    """What the audit log is narrowed to, beside the date range and page size."""

    action: str | None = None
    actor: str | None = None
    search: str | None = None


def read_filters(args) -> tuple[Filters, AuditFilters]:
    """The audit log's filters from the query string."""
    filters = read_common(args)
    audit = AuditFilters(
        action=choice(args, "action", ACTION_LABELS, filters),
        actor=text(args, "who", filters),
        search=text(args, "q", filters),
    )
    return filters, audit


def audit_page(organization, filters: Filters, audit: AuditFilters, position: Position) -> Page:
    """The organization's audit events, newest first, narrowed as asked.

    Seeks on (organization, created_at, id), or with an action or a who on (organization, action|actor,
    created_at, id). The search is no index's: it reads the rows the other filters leave, in order, until
    a page is found (a date range bounds it)."""
    query = AuditEvent.select().where(AuditEvent.organization == organization)
    if audit.action is not None:
        query = query.where(AuditEvent.action == audit.action)
    if audit.actor is not None:
        query = query.where(AuditEvent.actor == audit.actor)
    if audit.search is not None:
        query = query.where(_details_contain(audit.search))
    query = filters.date_range(AuditEvent, query)
    return seek(query, AuditEvent, position, filters.page_size, describe)


def _details_contain(words: str):
    """Details holding words, in any case; as stored (JSON: non-ASCII as \\u escapes) or as typed."""
    forms = {words.lower(), json.dumps(words.lower())[1:-1]}
    column = fn.LOWER(AuditEvent.detail)
    conditions = [NodeList((column, SQL("LIKE"), _like_pattern(form), SQL("ESCAPE '!'"))) for form in forms]
    condition = conditions[0]
    for other in conditions[1:]:
        condition = condition | other
    return condition


def _like_pattern(value: str) -> str:
    escaped = value.replace("!", "!!").replace("%", "!%").replace("_", "!_")
    return f"%{escaped}%"


def describe(event: AuditEvent) -> Entry:
    """An audit event in words: what happened and its details (field names only, for changes)."""
    return Entry(
        created_at=event.created_at,
        actor=event.actor,
        action=event.action,
        label=str(ACTION_LABELS.get(event.action) or _humanize(event.action)),
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
            value = _(", ").join(str(_FIELD_LABELS.get(name, name)) for name in value)
        elif isinstance(value, list):
            value = _(", ").join(str(item) for item in value)
        elif isinstance(value, bool):
            value = _("yes") if value else _("no")
        elif key == "failed_step" and value in _STEP_NAMES:
            value = _(value)
        elif isinstance(value, str) and value in VALUE_LABELS.get(key, {}):
            value = VALUE_LABELS[key][value]
        shown.append((str(DETAIL_LABELS.get(key) or _humanize(key)), str(value)))
    return shown


def _humanize(name: str) -> str:
    words = name.replace(".", " ").replace("_", " ").strip()
    return words[:1].upper() + words[1:]
