"""Saving and deleting an organization's mail sending server settings, with their audit trail."""

from ..store import audit, secretbox
from ..store.db import db
from ..store.models import MailServerSettings, utcnow

# Fields whose change is audited by name; the password is audited as "changed" only.
STORED_FIELDS = (
    "smtp_host",
    "smtp_port",
    "encryption",
    "authentication_enable",
    "authentication_user",
    "send_from",
    "send_name",
    "reply_to",
    "reply_name",
    "envelope_from",
    "trusted_ca_pem",
)


def settings_for(organization) -> MailServerSettings | None:
    """The organization's settings, or None."""
    return MailServerSettings.get_or_none(MailServerSettings.organization == organization)


def save_settings(organization, values: dict, actor: str) -> tuple[MailServerSettings, bool, list[str]]:
    """Create or update the settings from checked values. Returns (settings, created, changed fields)."""
    with db.atomic():
        settings = settings_for(organization)
        created = settings is None
        if created:
            settings = MailServerSettings(organization=organization)
        # A new row starts empty, so this also lists only the fields given a value on registration.
        changed = [
            name for name in STORED_FIELDS if name in values and getattr(settings, name) != values[name]
        ]
        for name in changed:
            setattr(settings, name, values[name])
        new_password = values.get("authentication_password")
        if not values.get("authentication_enable"):
            if settings.authentication_password_sealed:
                changed.append("authentication_password")
            settings.authentication_password_sealed = None
        elif new_password is not None:
            settings.authentication_password_sealed = secretbox.seal(new_password)
            changed.append("authentication_password")
        if changed:
            settings.updated_at = utcnow()
            settings.test_status, settings.test_at, settings.test_detail = "untested", None, None
            settings.save()
            audit.record(
                organization,
                "mail_server_settings.registered" if created else "mail_server_settings.changed",
                actor=actor,
                fields=changed,
            )
    return settings, created, changed


def delete_settings(organization, actor: str) -> bool:
    """Delete the settings, sealed password included. Returns whether there were any."""
    with db.atomic():
        deleted = MailServerSettings.delete().where(MailServerSettings.organization == organization).execute()
        if deleted:
            audit.record(organization, "mail_server_settings.deleted", actor=actor)
    return bool(deleted)
