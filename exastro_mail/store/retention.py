"""Retention: what the store forgets, and when (EXASTRO_MAIL_RETENTION_*).

- A mail's body once the mail is sent, expired or discarded (nothing shows or resends it then); a failed
  mail's body after RETENTION_FAILED_BODY_DAYS, so that "Retry now" can still send it until then.
- Delivery rows in a final status after RETENTION_DELIVERY_DAYS; audit events after RETENTION_AUDIT_DAYS.
- Reset links, logins and test mail runs RETENTION_ENDED_DAYS after they end.

Work goes in batches of a few hundred rows, each its own short transaction, found by a read outside it:
SQLite's write lock (and a server's row locks) are held for milliseconds at a time, and the web requests
and the worker's claims get their turn between batches. On SQLite the freed pages go back to the file
system afterwards (auto_vacuum=incremental, see store/db.py), a batch of pages at a time.

The outbox worker runs a pass every PRUNE_INTERVAL_SECONDS (outbox/worker.py); `exastro-mail prune` runs
one to the end, for cron.
"""

import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from . import sqlite_space
from .db import db, is_sqlite
from .models import AuditEvent, LoginSession, MailTestRun, OutboxMessage, ResetToken, utcnow

log = logging.getLogger(__name__)

NEVER = "never"
DEFAULT_BATCH = 500
SCAN_ROWS = 2000  # outbox rows read per step while looking for bodies to erase
PAUSE_SECONDS = 0.005  # between two writes: a waiting writer takes the lock meanwhile


def days_setting(config, name: str) -> int | None:
    """RETENTION_<name>_DAYS as a number of days, or None for never."""
    value = config[f"RETENTION_{name}_DAYS"]
    return None if value is None or str(value).strip().lower() == NEVER else int(value)


@dataclass(frozen=True)
class Retention:
    """How long each kind of row is kept (days; None: for ever), and the outbox statuses it acts on."""

    done: tuple  # final statuses in which a mail's body is of no more use (sent, expired, discarded)
    failed: str  # the final status whose body is kept for a while, for a retry by hand
    delivery_days: int | None = 90
    audit_days: int | None = 400
    sent_body_days: int | None = 0
    failed_body_days: int | None = 7
    ended_days: int | None = 1
    idle_timeout: int = 1800
    max_age: int = 43200

    @classmethod
    def from_config(cls, config, done, failed) -> "Retention":
        return cls(
            done=tuple(done),
            failed=failed,
            delivery_days=days_setting(config, "DELIVERY"),
            audit_days=days_setting(config, "AUDIT"),
            sent_body_days=days_setting(config, "SENT_BODY"),
            failed_body_days=days_setting(config, "FAILED_BODY"),
            ended_days=days_setting(config, "ENDED"),
            idle_timeout=int(config["SESSION_IDLE_TIMEOUT"]),
            max_age=int(config["SESSION_MAX_AGE"]),
        )


@dataclass
class Progress:
    """What a pass did, and where the search for bodies to erase goes on from (kept between passes)."""

    removed: dict = field(default_factory=dict)  # what -> rows
    body_mark: datetime | None = None  # no outbox row created before it still holds a body that will be due
    finished: bool = True  # False: the time budget ran out with work left

    def add(self, what: str, rows: int) -> None:
        self.removed[what] = self.removed.get(what, 0) + rows


def _ago(now: datetime, days: int | None) -> datetime | None:
    return None if days is None else now - timedelta(days=days)


def prune(retention: Retention, *, now=None, batch=DEFAULT_BATCH, deadline=None, progress=None) -> Progress:
    """One pass: remove or erase what is due, batch by batch, until nothing is or time.monotonic() passes
    deadline. Pass the Progress of the previous pass to go on from where it stopped."""
    now = now or utcnow()
    progress = progress or Progress()
    progress.finished, progress.removed = True, {}
    progress.add("bodies", _erase_bodies(retention, now, batch, progress, deadline))
    steps = (
        ("delivery", lambda: _delete_due(_old_deliveries(retention, now), OutboxMessage, batch)),
        ("audit", lambda: _delete_due(_old_audit(retention, now), AuditEvent, batch)),
        ("reset_tokens", lambda: _delete_due(_ended_reset_tokens(retention, now), ResetToken, batch)),
        ("sessions", lambda: _delete_due(_ended_sessions(retention, now), LoginSession, batch)),
        ("test_mail_runs", lambda: _delete_due(_ended_test_mail_runs(retention, now), MailTestRun, batch)),
    )
    for what, step in steps:
        while True:
            if deadline is not None and time.monotonic() > deadline:
                progress.finished = False
                return progress
            done = step()
            progress.add(what, done)
            if done < batch:
                break
            time.sleep(PAUSE_SECONDS)
    if is_sqlite():
        progress.add("sqlite_pages", sqlite_space.give_back_free_pages(deadline, PAUSE_SECONDS))
    return progress


def _old_deliveries(retention: Retention, now):
    cutoff = _ago(now, retention.delivery_days)
    if cutoff is None:
        return None
    final = (*retention.done, retention.failed)
    return (
        OutboxMessage.select(OutboxMessage.id)
        .where(OutboxMessage.created_at < cutoff, OutboxMessage.status.in_(final))
        .order_by(OutboxMessage.created_at)
    )


def _old_audit(retention: Retention, now):
    cutoff = _ago(now, retention.audit_days)
    if cutoff is None:
        return None
    return (
        AuditEvent.select(AuditEvent.id).where(AuditEvent.created_at < cutoff).order_by(AuditEvent.created_at)
    )


def _ended_reset_tokens(retention: Retention, now):
    cutoff = _ago(now, retention.ended_days)
    if cutoff is None:
        return None
    # A link ends when it expires, or earlier when used: a day after expiry is a day after its end or more.
    return ResetToken.select(ResetToken.id).where(ResetToken.expires_at < cutoff)


def _ended_sessions(retention: Retention, now):
    cutoff = _ago(now, retention.ended_days)
    if cutoff is None:
        return None
    idle_end = cutoff - timedelta(seconds=retention.idle_timeout)
    age_end = cutoff - timedelta(seconds=retention.max_age)
    return LoginSession.select(LoginSession.id).where(
        (LoginSession.last_seen_at < idle_end) | (LoginSession.created_at < age_end)
    )


def _ended_test_mail_runs(retention: Retention, now):
    cutoff = _ago(now, retention.ended_days)
    if cutoff is None:
        return None
    return MailTestRun.select(MailTestRun.id).where(MailTestRun.deadline_at < cutoff)


def _delete_due(query, model, batch: int) -> int:
    """Delete one batch of the rows query finds (read first, outside the write); how many went."""
    if query is None:
        return 0
    ids = [row.id for row in query.limit(batch)]
    if not ids:
        return 0
    with db.atomic():
        return model.delete().where(model.id.in_(ids)).execute()


def _erase_bodies(retention: Retention, now, batch: int, progress: Progress, deadline) -> int:
    """Erase the bodies of mails that no longer need them, reading the outbox in (created_at, id) order
    from progress.body_mark; the mark then moves up to the first row whose body will be due later."""
    cuts = _ago(now, retention.sent_body_days), _ago(now, retention.failed_body_days)
    if cuts == (None, None):
        return 0
    at = progress.body_mark or _ago(now, retention.delivery_days) or datetime(1970, 1, 1)
    after_id, held, erased = 0, None, 0
    while True:
        if deadline is not None and time.monotonic() > deadline:
            progress.finished = False
            break
        rows = _bodies_from(at, after_id)
        due, later = _due_bodies(rows, retention, cuts)
        held = held or later
        for start in range(0, len(due), batch):
            erased += _erase(due[start : start + batch], retention)
            time.sleep(PAUSE_SECONDS)
        if rows:
            at, after_id = rows[-1].created_at, rows[-1].id
        if len(rows) < SCAN_ROWS:
            break
    progress.body_mark = held or at
    return erased


def _bodies_from(at: datetime, after_id: int) -> list:
    """Up to SCAN_ROWS outbox rows from (at, after_id) on: id, created_at, status, whether a body is left."""
    created = OutboxMessage.created_at
    return list(
        OutboxMessage.select(
            OutboxMessage.id,
            created,
            OutboxMessage.status,
            OutboxMessage.body_text.is_null(False).alias("has_body"),
        )
        .where(created >= at, (created > at) | (OutboxMessage.id > after_id))
        .order_by(created, OutboxMessage.id)
        .limit(SCAN_ROWS)
    )


def _due_bodies(rows, retention: Retention, cuts) -> tuple[list, datetime | None]:
    """The ids among rows whose bodies are due, and the created_at of the first whose body will be later."""
    done_cut, failed_cut = cuts
    due, later = [], None
    for row in rows:
        if not row.has_body:
            continue
        cut = failed_cut if row.status == retention.failed else done_cut
        final = row.status == retention.failed or row.status in retention.done
        if final and cut is not None and row.created_at < cut:
            due.append(row.id)
        elif later is None and (not final or cut is not None):
            later = row.created_at
    return due, later


def _erase(ids: list, retention: Retention) -> int:
    with db.atomic():
        # Only while still final: a failed mail retried by hand meanwhile is queued, and keeps its body.
        return (
            OutboxMessage.update(body_text=None, body_html=None)
            .where(OutboxMessage.id.in_(ids), OutboxMessage.status.in_((*retention.done, retention.failed)))
            .execute()
        )


class Pruner:
    """The worker's pruning: a pass every interval, a second at most, going on where the last one stopped."""

    def __init__(self, app, final, failed):
        self.app = app
        self.done, self.failed = tuple(name for name in final if name != failed), failed
        self.interval = float(app.config["PRUNE_INTERVAL_SECONDS"])
        self.budget = float(app.config["PRUNE_BUDGET_SECONDS"])
        self.next_at = time.monotonic() + self.interval
        self.progress = Progress()
        self.last_failure = None

    def run_if_due(self) -> Progress | None:
        """Run a pass when one is due; a failure is logged (once until it changes) and never raised."""
        if self.interval <= 0 or time.monotonic() < self.next_at:
            return None
        try:
            with self.app.app_context():
                retention = Retention.from_config(self.app.config, self.done, self.failed)
                self.progress = prune(
                    retention,
                    batch=int(self.app.config["PRUNE_BATCH"]),
                    deadline=time.monotonic() + self.budget,
                    progress=self.progress,
                )
            self.last_failure = None
        except Exception as error:  # a database hiccup: the next pass tries again
            if repr(error) != self.last_failure:
                log.exception("pruning failed; trying again in %.0f s", self.interval)
            self.last_failure = repr(error)
            self.next_at = time.monotonic() + self.interval
            return None
        # Work left over: go on soon (between mail), not after a whole interval.
        self.next_at = time.monotonic() + (
            self.interval if self.progress.finished else min(self.interval, 5.0)
        )
        if any(self.progress.removed.values()):
            log.info(
                "pruned %s",
                ", ".join(f"{what} {rows}" for what, rows in self.progress.removed.items() if rows),
            )
        return self.progress
