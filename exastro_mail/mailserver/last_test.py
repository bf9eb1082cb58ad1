"""The last test mail's result, kept in the session so that the page without JavaScript can redirect
after Send test mail (POST/redirect/GET): a reload shows the result again and sends nothing.

Only what the page shows is kept: the report, and the form's values that are not secret (a secret is
never shown back, on this page or any other). Long texts are cut so the signed cookie stays small."""

from dataclasses import asdict

from flask import session
from flask_login import current_user

from .fields import FIELDS, KEY, PEM
from .hints import MailTestReport, ShownStep
from .testmail import MailTestOutcome

_KEY = "mailserver_last_test"
_KEPT_KINDS_EXCLUDED = (KEY, PEM)
_MAX_TEXT = 300


def _cut(text):
    return text[:_MAX_TEXT] if isinstance(text, str) else text


def remember(organization, outcome: MailTestOutcome, form) -> None:
    """Keep outcome and the form's shown values for the next GET of the test mail page."""
    report = asdict(outcome.diagnosis)
    report["steps"] = [{**step, "detail": _cut(step["detail"])} for step in report["steps"]]
    report = {name: _cut(value) for name, value in report.items()}
    values = {
        name: _cut(form[name].data)
        for name, declared in FIELDS.items()
        if not declared.write_only and declared.kind not in _KEPT_KINDS_EXCLUDED
    }
    values["test_recipient"] = _cut(form.test_recipient.data)
    session[_KEY] = {
        "org": organization.id,
        "user": current_user.id,
        "report": report,
        "recipient": outcome.recipient,
        "tested_saved": outcome.tested_saved,
        "status_updated": outcome.status_updated,
        "values": values,
    }


def recall(organization) -> tuple[MailTestOutcome, dict] | None:
    """The outcome and values this user remembered for this organization, if any (another account
    logged in later in the same browser does not see them)."""
    kept = session.get(_KEY)
    if not kept or kept.get("org") != organization.id or kept.get("user") != current_user.id:
        return None
    report = dict(kept["report"])
    report["steps"] = [ShownStep(**step) for step in report["steps"]]
    outcome = MailTestOutcome(
        MailTestReport(**report), kept["recipient"], kept["tested_saved"], kept["status_updated"]
    )
    return outcome, kept["values"]
