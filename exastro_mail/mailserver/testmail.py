"""Send test mail: try settings (saved or not) on the real server, step by step, without the outbox
(beside the request that asked for it: mailserver/test_runs.py).

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
from ..oauth import TokenCache
from ..smtp.diagnose import STEPS_IN_ORDER, diagnose
from ..store import audit, secretbox
from ..store.db import db
from ..store.models import MailServerSettings, utcnow
from .endpoint import SmtpOptions, StoredSecretUnreadable, delivery_endpoint, endpoint_for, open_session
from .fields import FIELDS, SECRET_FIELDS, STORED_FIELDS, TRANSPORT_GRAPH, used
from .hints import STEP_NAMES, MailTestReport, explain, explain_unusable, shown_step
from .sender import Sender, sender_for
from .signals import test_mail_sent
from .store import settings_for

# The page answers within SMTP_TIMEOUT plus this, however the server behaves.
DEADLINE_SLACK_SECONDS = 2.0
STATUS_UNTESTED, STATUS_ACCEPTED, STATUS_FAILED = "untested", "accepted", "failed"
# The steps' names in order; used to show where a failure stopped.
STEP_ORDER = tuple(STEP_NAMES[step] for step in STEPS_IN_ORDER)
GRAPH_STEP_ORDER = tuple(STEP_NAMES[step] for step in ("token", "sendmail", "accepted"))


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
        order = GRAPH_STEP_ORDER if self.diagnosis.transport == TRANSPORT_GRAPH else STEP_ORDER
        seen = {step.name for step in self.diagnosis.steps}
        failed_at = order.index(self.diagnosis.failed_step) if self.diagnosis.failed_step in order else 0
        return [name for name in order[failed_at + 1 :] if name not in seen]


def secrets_to_use(values: dict, stored: MailServerSettings | None) -> dict[str, str]:
    """Each secret the values use: typed in the form, else the stored one (StoredSecretUnreadable if
    it cannot be opened)."""
    secrets = {}
    for name in SECRET_FIELDS:
        if not used(name, values):
            continue
        if values.get(name) is not None:
            secrets[name] = values[name]
        elif stored is not None and getattr(stored, FIELDS[name].column):
            try:
                secrets[name] = secretbox.unseal(getattr(stored, FIELDS[name].column))
            except secretbox.SecretUnreadable:
                raise StoredSecretUnreadable(name) from None
    return secrets


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


def matches_saved(values: dict, stored: MailServerSettings | None, secrets) -> bool:
    """Whether checked values (and the secrets in use: a mapping, or the password) are exactly the saved
    settings."""
    if stored is None:
        return False
    if any(name in values and values[name] != getattr(stored, name) for name in STORED_FIELDS):
        return False
    if not isinstance(secrets, dict):
        secrets = {"authentication_password": secrets}
    for name in SECRET_FIELDS:
        if values.get(name) is None:
            continue  # blank: the stored one (or none)
        sealed = getattr(stored, FIELDS[name].column)
        if sealed is None or secrets.get(name) != secretbox.unseal(sealed):
            return False
    return True


@dataclass(frozen=True)
class MailTest:
    """One Send test mail, ready to go: the checked values, and the secrets they use (typed, or the
    stored ones opened), kept in memory only."""

    organization: object
    values: dict
    recipient: str
    actor: str
    options: SmtpOptions
    stored: MailServerSettings | None
    secrets: dict[str, str]
    remote_addr: str | None = None  # the admin's, for the audit record written after the request

    @classmethod
    def prepare(
        cls, organization, values: dict, recipient: str, actor: str, options: SmtpOptions, remote_addr=None
    ):
        """The test of values; StoredSecretUnreadable if a stored secret they use cannot be opened."""
        stored = settings_for(organization)
        secrets = secrets_to_use(values, stored)
        return cls(organization, values, recipient, actor, options, stored, secrets, remote_addr)

    @property
    def deadline_seconds(self) -> float:
        """The longest the test takes, however the server behaves."""
        return self.options.timeout + DEADLINE_SLACK_SECONDS


def send_test_mail(test: MailTest, on_step=None) -> MailTestOutcome:
    """Send the test mail, audit it, and record the result on matching saved settings. on_step(steps)
    hears of the steps done so far, as shown, each time one ends."""
    organization, values, stored = test.organization, test.values, test.stored
    tested_saved = matches_saved(values, stored, test.secrets)
    sender = sender_for(values, organization.name)
    message = None
    try:
        # A cache of its own: the test always asks the token endpoint, as the step then says.
        endpoint = delivery_endpoint(
            values, test.secrets, test.options, organization_id=organization.id, cache=TokenCache()
        )
    except ValueError as problem:
        plain = endpoint_for(values, None, test.options)
        diagnosis = explain_unusable(str(problem), plain, transport=values.get("transport"))
    else:
        message = compose_test_mail(sender, test.recipient, organization, test.actor)
        shown = []

        def step_ended(step):
            shown.append(shown_step(step))
            if on_step is not None:
                on_step(list(shown))

        facts = diagnose(
            endpoint,
            message,
            sender.envelope_from,
            [test.recipient],
            deadline_seconds=test.deadline_seconds,
            open_session=open_session,
            on_step=step_ended,
        )
        diagnosis = explain(facts, endpoint, transport=values.get("transport"))
    with db.atomic():
        status_updated = tested_saved and _record_status(stored, diagnosis)
        audit.record(
            organization,
            "mail_server_settings.test_mail",
            actor=test.actor,
            remote_addr=test.remote_addr,
            recipient=test.recipient,
            result=STATUS_ACCEPTED if diagnosis.ok else STATUS_FAILED,
            failed_step=diagnosis.failed_step,
            smtp_code=diagnosis.smtp_code,
            reply=diagnosis.reply[:500],
            tested="saved settings" if tested_saved else "unsaved values",
        )
        test_mail_sent.send(organization, message=message, recipient=test.recipient, report=diagnosis)
    return MailTestOutcome(diagnosis, test.recipient, tested_saved, status_updated)


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
