"""The last test mail of this browser, kept in the session so that the page without JavaScript can redirect
after Send test mail (POST/redirect/GET) and still show the form as it was sent: a reload shows the run
again and sends nothing.

Only the run's public id and the form's values that are not secret are kept (a secret is never shown
back, on this page or any other); the run itself is in the database (mailserver/test_runs.py). Long
texts are cut so the signed cookie stays small."""

from flask import session
from flask_login import current_user

from .fields import FIELDS, KEY, PEM

_KEY = "mailserver_last_test"
_KEPT_KINDS_EXCLUDED = (KEY, PEM)
_MAX_TEXT = 300


def _cut(text):
    return text[:_MAX_TEXT] if isinstance(text, str) else text


def remember(organization, run_id: str, form) -> None:
    """Keep the run and the form's shown values for the next GET of the test mail page."""
    values = {
        name: _cut(form[name].data)
        for name, declared in FIELDS.items()
        if not declared.write_only and declared.kind not in _KEPT_KINDS_EXCLUDED
    }
    values["test_recipient"] = _cut(form.test_recipient.data)
    session[_KEY] = {"org": organization.id, "user": current_user.id, "run": run_id, "values": values}


def recall(organization) -> tuple[str, dict] | None:
    """The run and the values this user remembered for this organization, if any (another account
    logged in later in the same browser does not see them)."""
    kept = session.get(_KEY)
    if not kept or kept.get("org") != organization.id or kept.get("user") != current_user.id:
        return None
    return kept.get("run"), kept["values"]
