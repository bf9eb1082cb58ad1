"""Saving and deleting an organization's mail sending server settings, with their audit trail."""

from ..oauth import parse_service_account_key
from ..store import audit, secretbox
from ..store.db import db
from ..store.models import MailServerSettings, utcnow
from .fields import FIELDS, SECRET_FIELDS, STORED_FIELDS, used


def settings_for(organization) -> MailServerSettings | None:
    """The organization's settings, or None."""
    return MailServerSettings.get_or_none(MailServerSettings.organization == organization)


def save_settings(organization, values: dict, actor: str) -> tuple[MailServerSettings, bool, list[str]]:
    """Create or update the settings from checked values. Returns (settings, created, changed fields)."""
    with db.atomic():
        settings = settings_for(organization)
        created = settings is None
        if created:
            settings = MailServerSettings(organization=organization, created_by=actor[:255])
        # A new row starts empty, so this also lists only the fields given a value on registration.
        changed = [
            name for name in STORED_FIELDS if name in values and getattr(settings, name) != values[name]
        ]
        for name in changed:
            setattr(settings, name, values[name])
        changed += _save_secrets(settings, values)
        if changed:
            settings.updated_at, settings.updated_by = utcnow(), actor[:255]
            if created:
                settings.created_at = settings.updated_at
            settings.test_status, settings.test_at, settings.test_detail = "untested", None, None
            settings.save()
            audit.record(
                organization,
                "mail_server_settings.registered" if created else "mail_server_settings.changed",
                actor=actor,
                fields=changed,
            )
    return settings, created, changed


def _save_secrets(settings: MailServerSettings, values: dict) -> list[str]:
    """Seal each new secret; a blank one keeps the stored value, one the settings do not use is cleared."""
    changed = []
    for name in SECRET_FIELDS:
        column = FIELDS[name].column
        if not used(name, values):
            if getattr(settings, column):
                changed.append(name)
            setattr(settings, column, None)
        elif values.get(name) is not None:
            setattr(settings, column, secretbox.seal(values[name]))
            changed.append(name)
    key = values.get("oauth2_service_account_key")
    if key is not None:
        settings.oauth2_service_account_email = parse_service_account_key(key).client_email
    elif settings.oauth2_service_account_key_sealed is None:
        settings.oauth2_service_account_email = None
    return changed


def delete_settings(organization, actor: str) -> bool:
    """Delete the settings, sealed password included. Returns whether there were any."""
    with db.atomic():
        deleted = MailServerSettings.delete().where(MailServerSettings.organization == organization).execute()
        if deleted:
            audit.record(organization, "mail_server_settings.deleted", actor=actor)
    return bool(deleted)
