"""Send test mail beside the request that asked for it.

The request starts a run in a thread and waits a moment for its result (EXASTRO_MAIL_TEST_MAIL_WAIT_SECONDS).
A run that takes longer, on a slow or silent server, goes on without it: the page follows the run's steps
as they come (htmx asks again every second; without JavaScript the page reloads itself), from the
database, so whichever web worker or instance answers can show them. Meanwhile the worker that started
it serves other requests: a test mail costs a thread, never a whole worker.

A run keeps what the page shows and nothing more: the secrets the test used stay in its thread's memory.
"""

import json
import logging
import secrets
import threading
from dataclasses import asdict, dataclass
from datetime import timedelta

from flask import current_app
from flask_babel import force_locale, get_locale

from ..store.db import db
from ..store.models import MailTestRun, utcnow
from .hints import MailTestReport, ShownStep
from .testmail import MailTestOutcome

log = logging.getLogger(__name__)

THREAD_NAME = "test-mail-"
_MAX_TEXT = 1000  # a reply or detail kept for the page; the audit log keeps 500


@dataclass(frozen=True)
class RunState:
    """A run as the page shows it: the steps so far, and the outcome once it has one."""

    public_id: str
    recipient: str
    steps: list[ShownStep]
    outcome: MailTestOutcome | None
    interrupted: bool  # ended without an outcome: its process stopped, or it broke

    @property
    def running(self) -> bool:
        return self.outcome is None and not self.interrupted


class Started:
    """A run just started by this process: its public id, and a wait for its outcome."""

    def __init__(self, public_id: str):
        self.public_id = public_id
        self._done = threading.Event()
        self._outcome: MailTestOutcome | None = None

    def wait(self, seconds: float) -> MailTestOutcome | None:
        """The outcome, if the run ends within seconds (None if it takes longer, or broke)."""
        self._done.wait(seconds)
        return self._outcome

    def _end(self, outcome: MailTestOutcome | None) -> None:
        self._outcome = outcome
        self._done.set()


def start(organization, user_id: int, recipient: str, deadline_seconds: float, work) -> Started:
    """Run work(on_step) in a thread of its own, in this app and the request's language; it returns the
    Outcome. on_step(steps) keeps the steps done so far for the page. The run ends within deadline_seconds
    however the server behaves, or is shown as interrupted."""
    now = utcnow()
    started = Started(secrets.token_urlsafe(16))
    MailTestRun.create(
        public_id=started.public_id,
        organization=organization,
        user=user_id,
        recipient=recipient,
        steps="[]",
        created_at=now,
        deadline_at=now + timedelta(seconds=deadline_seconds),
    )
    app, locale = current_app._get_current_object(), str(get_locale())
    # Not a daemon: a worker that is told to stop lets a test on its way finish (within its deadline).
    thread = threading.Thread(
        target=_run, args=(app, locale, started, work), name=THREAD_NAME + started.public_id[:6]
    )
    thread.start()
    return started


def _run(app, locale: str, started: Started, work) -> None:
    outcome = None
    with app.app_context(), force_locale(locale):
        try:
            outcome = work(lambda steps: _save(started.public_id, steps=_steps_json(steps)))
            _save(started.public_id, outcome=json.dumps(_outcome_dict(outcome)), finished_at=utcnow())
        except Exception:
            log.exception("the test mail %s stopped before its end", started.public_id)
            outcome = None
            _save_quietly(started.public_id, finished_at=utcnow())  # shown as interrupted at once
        finally:
            started._end(outcome)
            if not db.is_closed():
                db.close()


def _save(public_id: str, **columns) -> None:
    MailTestRun.update(**columns).where(MailTestRun.public_id == public_id).execute()


def _save_quietly(public_id: str, **columns) -> None:
    try:
        _save(public_id, **columns)
    except Exception:  # the database itself may be what broke: the run then ends at its deadline
        log.warning("the test mail %s could not be marked as ended", public_id)


def find(public_id: str, organization, user_id: int) -> RunState | None:
    """The run of this id that this user started in this organization, if it is still kept."""
    row = MailTestRun.get_or_none(
        (MailTestRun.public_id == public_id)
        & (MailTestRun.organization == organization)
        & (MailTestRun.user == user_id)
    )
    if row is None:
        return None
    outcome = _outcome_from(json.loads(row.outcome)) if row.outcome else None
    interrupted = outcome is None and (row.finished_at is not None or utcnow() > row.deadline_at)
    steps = [ShownStep(**step) for step in json.loads(row.steps)]
    return RunState(row.public_id, row.recipient, steps, outcome, interrupted)


def _cut(text):
    return text[:_MAX_TEXT] if isinstance(text, str) else text


def _kept_steps(steps: list[ShownStep]) -> list[dict]:
    return [{**asdict(step), "detail": _cut(step.detail)} for step in steps]


def _steps_json(steps: list[ShownStep]) -> str:
    return json.dumps(_kept_steps(steps))


def _outcome_dict(outcome: MailTestOutcome) -> dict:
    report = {name: _cut(value) for name, value in asdict(outcome.diagnosis).items()}
    report["steps"] = _kept_steps(outcome.diagnosis.steps)
    return {
        "report": report,
        "recipient": outcome.recipient,
        "tested_saved": outcome.tested_saved,
        "status_updated": outcome.status_updated,
    }


def _outcome_from(kept: dict) -> MailTestOutcome:
    report = dict(kept["report"])
    report["steps"] = [ShownStep(**step) for step in report["steps"]]
    return MailTestOutcome(
        MailTestReport(**report), kept["recipient"], kept["tested_saved"], kept["status_updated"]
    )
