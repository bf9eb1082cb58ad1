"""Send test mail: try settings (saved or not) on the real server, step by step, without the outbox.

The saved settings' verification status changes only when the tested values are exactly the saved
ones (the stored password included): a test of edited, unsaved values says nothing about what is
stored, so it must not mark the stored settings as verified or failed.
"""

from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import Message
from email.utils import make_msgid

from flask_babel import gettext as _

from ..mime import Mail, compose
from ..smtp.diagnose import STEPS_IN_ORDER, diagnose
from ..store import audit, secretbox
from ..store.db import db
from ..store.models import MailServerSettings, utcnow
from .endpoint import SmtpOptions, endpoint_for
from .fields import STORED_FIELDS
from .hints import STEP_NAMES, MailTestReport, explain
from .sender import Sender, sender_for
from .store import settings_for

# The page answers within SMTP_TIMEOUT plus this, however the server behaves.
DEADLINE_SLACK_SECONDS = 2.0
STATUS_UNTESTED, STATUS_ACCEPTED, STATUS_FAILED = "untested", "accepted", "failed"
# The steps' names in order; used to show where a failure stopped.
STEP_ORDER = tuple(STEP_NAMES[step] for step in STEPS_IN_ORDER)


@dataclass(frozen=True)
class MailTestOutcome:
    """What a test mail did, and whether the saved settings' status took its result."""

    diagnosis: MailTestReport
    recipient: str
    tested_saved: bool
    status_updated: bool

    @property
    def steps_not_reached(self) -> list[str]:
        """The steps after a failure that were never tried."""
        if self.diagnosis.ok:
            return []
        seen = {step.name for step in self.diagnosis.steps}
        failed_at = (
            STEP_ORDER.index(self.diagnosis.failed_step) if self.diagnosis.failed_step in STEP_ORDER else 0
        )
        return [name for name in STEP_ORDER[failed_at + 1 :] if name not in seen]


def password_to_use(values: dict, stored: MailServerSettings | None) -> str | None:
    """The password typed in the form, else the stored one (SecretUnreadable if it cannot be opened)."""
    if not values.get("authentication_enable"):
        return None
    if values.get("authentication_password") is not None:
        return values["authentication_password"]
    if stored is not None and stored.authentication_password_sealed:
        return secretbox.unseal(stored.authentication_password_sealed)
    return None


def compose_test_mail(sender: Sender, recipient: str, organization, actor: str) -> Message:
    """The short test message, composed as the outbox composes every mail (exastro_mail.mime)."""
    text = (
        _(
            "This is a test mail sent by %(actor)s from the mail sending server settings of "
            "%(organization)s.",
            actor=actor,
            organization=organization.name,
        )
        + "\n\n"
        + _("It arrived, so the mail sending server settings work.")
        + "\n"
    )
    return compose(
        Mail(
            from_address=sender.from_address,
            from_name=sender.from_name,
            reply_to=sender.reply_to,
            reply_name=sender.reply_name,
            to=[recipient],
            subject=_("Test mail from %(organization)s", organization=organization.name),
            text=text,
            message_id=make_msgid(domain=sender.from_address.rpartition("@")[2]),
            date=datetime.now(UTC),
        )
    )


def shown_test_detail(detail: str | None) -> str | None:
    """A saved test result ("<step>: <reply>", kept in English), its step named in the reader's language."""
    for name in STEP_ORDER:
        if detail and detail.startswith(f"{name}: "):
            return f"{_(name)}: {detail[len(name) + 2 :]}"
    return detail


def matches_saved(values: dict, stored: MailServerSettings | None, password: str | None) -> bool:
    """Whether checked values (and the password in use) are exactly the saved settings."""
    if stored is None:
        return False
    if any(name in values and values[name] != getattr(stored, name) for name in STORED_FIELDS):
        return False
    if values.get("authentication_password") is None:
        return True
    return stored.authentication_password_sealed is not None and password == secretbox.unseal(
        stored.authentication_password_sealed
    )


def send_test_mail(
    organization, values: dict, recipient: str, actor: str, options: SmtpOptions
) -> MailTestOutcome:
    """Send the test mail with checked values, audit it, and record the result on matching saved settings."""
    stored = settings_for(organization)
    password = password_to_use(values, stored)
    tested_saved = matches_saved(values, stored, password)
    sender = sender_for(values, organization.name)
    endpoint = endpoint_for(values, password, options)
    facts = diagnose(
        endpoint,
        compose_test_mail(sender, recipient, organization, actor),
        sender.envelope_from,
        [recipient],
        deadline_seconds=options.timeout + DEADLINE_SLACK_SECONDS,
    )
    diagnosis = explain(facts, endpoint)
    with db.atomic():
        status_updated = tested_saved and _record_status(stored, diagnosis)
        audit.record(
            organization,
            "mail_server_settings.test_mail",
            actor=actor,
            recipient=recipient,
            result=STATUS_ACCEPTED if diagnosis.ok else STATUS_FAILED,
            failed_step=diagnosis.failed_step,
            smtp_code=diagnosis.smtp_code,
            reply=diagnosis.reply[:500],
            tested="saved settings" if tested_saved else "unsaved values",
        )
    return MailTestOutcome(diagnosis, recipient, tested_saved, status_updated)


def _record_status(stored: MailServerSettings, diagnosis: MailTestReport) -> bool:
    # Guarded by updated_at: settings saved while the test ran were not the ones tested.
    detail = diagnosis.reply if diagnosis.ok else f"{diagnosis.failed_step}: {diagnosis.reply}"
    updated = (
        MailServerSettings.update(
            test_status=STATUS_ACCEPTED if diagnosis.ok else STATUS_FAILED,
            test_at=utcnow(),
            test_detail=detail[:1000],
        )
        .where(MailServerSettings.id == stored.id, MailServerSettings.updated_at == stored.updated_at)
        .execute()
    )
    return bool(updated)
