"""Claiming due mail under a lease, and recording each claimed message's outcome while it is still ours.

A claim marks rows "sending" under a lease id until lease_until; the worker's heartbeat (outbox/pool.py)
renews it while the mail is in hand. A worker that dies leaves its rows to be claimed again once the
lease has passed (EXASTRO_MAIL_OUTBOX_LEASE_SECONDS after its last heartbeat), so nothing stays stuck
(and a worker that merely stalled that long leaves the rest of its batch to the one that took it over).
Reset mails come first (a priority column), then the oldest; the claim reads only the index on
(status, priority, next_attempt_at), so years of sent mail cost it nothing.

Every outcome is written only while the row is still ours: if the lease ran out and another worker took
the row, that worker's outcome counts. "Ours" is the lease id alone, with no condition on the status: a
claim sets leased_by only with status "sending", and every change of status clears it (here and in
outbox/enqueue.py). So InnoDB reaches the rows by primary key alone. With a status condition it read an
index on status first, locking other workers' rows there on its way, which deadlocked with their outcomes
(seen with three workers, tests/test_multiprocess.py).

Any number of workers on any number of machines may claim at once: on PostgreSQL and MariaDB a claim
locks the rows it takes (FOR UPDATE SKIP LOCKED, so workers never wait on each other's rows), on SQLite
the claim is one IMMEDIATE transaction (SQLite has a single writer).
"""

import json
import logging
import os
import secrets
import socket
import time
from datetime import timedelta

from flask import current_app
from peewee import OperationalError

from .. import metrics_registry
from ..store.db import db, is_sqlite
from ..store.failures import deadlocked
from ..store.models import Organization, OutboxMessage, utcnow
from . import kinds, recipients, status
from .due import CLAIM_CANDIDATES, EVERYONE, Scope, candidates, due, lock
from .kept import held_until_written
from .retry import after_failure

log = logging.getLogger(__name__)
# A claim the server rolled back to break a deadlock is tried again, this often in all: it did nothing
# else (no mail is sent inside it). InnoDB can still meet one with three workers and requests inserting
# mail beside them (the index entries the claim's UPDATE moves), however the rows are locked.
CLAIM_TRIES = 3


class LeaseLost(Exception):
    """Another worker took the message over (this one stalled past its lease): its outcome counts."""


def _again_after_a_deadlock(transaction):
    """transaction(), tried again (up to CLAIM_TRIES in all) while the server breaks a deadlock with it."""
    for _ in range(CLAIM_TRIES - 1):
        try:
            return transaction()
        except OperationalError as error:
            if not deadlocked(error):
                raise
            log.info("outbox claim rolled back by the database to break a deadlock; claiming again")
    return transaction()


class Claim:
    """The messages one pass of a worker holds under its lease id, and how their outcomes are recorded."""

    def __init__(self, lease_id: str, lease_seconds: float, messages: list[OutboxMessage]):
        self.lease_id = lease_id
        self.lease_seconds = lease_seconds
        self.messages = messages
        self._held = {message.id for message in messages}
        self._renewed = time.monotonic()

    @classmethod
    def take(
        cls, batch_size: int, lease_seconds: float, *, scope: Scope = EVERYONE, lease_id: str | None = None
    ) -> "Claim":
        """Atomically mark up to batch_size due messages in scope (or ones whose lease ran out) as ours
        (under a new lease id, or the one given): the highest priority first, then the oldest."""
        lease_id = lease_id or f"{socket.gethostname()[:40]}:{os.getpid()}:{secrets.token_hex(4)}"
        now = utcnow()
        due_now = due(now) if scope == EVERYONE else due(now) & scope.condition()
        # Looked for before taking the write lock: an idle worker should not queue up behind requests.
        room = batch_size * (1 if is_sqlite() else CLAIM_CANDIDATES)
        groups = candidates(now, scope, room)
        if not groups:
            return cls(lease_id, lease_seconds, [])

        def mark() -> list[int]:
            with db.atomic():
                if is_sqlite():  # the IMMEDIATE transaction shuts out every writer: read again, under it
                    found = candidates(now, scope, room)
                    ids = [message_id for group in found for message_id in group][:batch_size]
                    taken = OutboxMessage.id.in_(ids) & due_now  # still due when taken
                else:
                    # Locked by this transaction while due (FOR UPDATE): taken by primary key alone, as
                    # the condition would let InnoDB read other rows' index entries and wait on their
                    # claims while they wait on this one (a deadlock, seen with three workers).
                    ids = lock(groups, due_now, batch_size)
                    taken = OutboxMessage.id.in_(ids)
                if ids:
                    OutboxMessage.update(
                        status=status.SENDING,
                        leased_by=lease_id,
                        lease_until=now + timedelta(seconds=lease_seconds),
                        attempts=OutboxMessage.attempts + 1,
                    ).where(taken).execute()
            return ids

        ids = _again_after_a_deadlock(mark)
        if not ids:
            return cls(lease_id, lease_seconds, [])
        messages = (
            OutboxMessage.select(OutboxMessage, Organization)
            .join(Organization)
            .where(
                OutboxMessage.id.in_(ids),
                OutboxMessage.leased_by == lease_id,
                OutboxMessage.status == status.SENDING,
            )
            .order_by(OutboxMessage.priority.desc(), OutboxMessage.next_attempt_at, OutboxMessage.id)
        )
        return cls(lease_id, lease_seconds, list(messages))

    def take_more(self, batch_size: int, scope: Scope) -> list[OutboxMessage]:
        """Claim up to batch_size more due messages in scope under this lease (renewed and recorded
        with the rest); the messages taken."""
        more = Claim.take(batch_size, self.lease_seconds, scope=scope, lease_id=self.lease_id).messages
        self.messages += more
        self._held |= {message.id for message in more}
        return more

    def part(self, messages: list[OutboxMessage]) -> "Claim":
        """The claim of some of these messages (one organization's), renewed and recorded on its own."""
        return Claim(self.lease_id, self.lease_seconds, messages)

    def by_organization(self):
        """(organization, messages) pairs, so each organization's mail shares one connection."""
        groups: dict[int, tuple[Organization, list[OutboxMessage]]] = {}
        for message in self.messages:
            groups.setdefault(message.organization_id, (message.organization, []))[1].append(message)
        return list(groups.values())

    def sent(self, message: OutboxMessage, reply: str, *, outcomes: dict | None = None) -> None:
        """Record that the server took the message (a secret body, such as a reset link, is erased): for
        every recipient, or with some refused for good, whom last_error then names (outbox/recipients.py).
        An earlier attempt's error no longer applies."""
        fields = {"sent_at": utcnow(), "last_error": None}
        if outcomes is not None:
            fields.update(
                recipient_outcomes=json.dumps(outcomes), last_error=recipients.summary(message, outcomes)
            )
        log.info("outbox message %s sent: %s", message.id, fields["last_error"] or reply)
        # At once, before the next message: a worker killed later must not leave this one to be re-sent.
        self._finish(message, status.SENT, **fields)

    def expired(self, message: OutboxMessage, reason: str) -> None:
        """Record that a message will never be sent because what it carries no longer works (a link)."""
        self._finish(message, status.EXPIRED, last_error=reason)
        log.info("outbox message %s expired: %s", message.id, reason)

    def fail(
        self,
        message: OutboxMessage,
        reason: str,
        *,
        permanent: bool,
        outcomes: dict | None = None,
        retry_after: float | None = None,
    ) -> None:
        """Record a failed attempt: failed for good, or queued again after a backoff (outbox/retry.py),
        no sooner than the retry_after seconds the server asked for. With outcomes
        (outbox/recipients.py), the recipients' outcomes are kept too; when they end with some recipient
        accepted, the mail counts as sent (to them), with last_error naming the rest."""
        config = current_app.config
        delay, reason = after_failure(
            message.attempts, reason, permanent=permanent, config=config, retry_after=retry_after
        )
        kept = {} if outcomes is None else {"recipient_outcomes": json.dumps(outcomes)}
        if delay is None:
            if outcomes is not None:
                outcomes = recipients.gave_up(outcomes)
                kept["recipient_outcomes"] = json.dumps(outcomes)
                if recipients.counts(message, outcomes)[recipients.ACCEPTED]:
                    self._finish(message, status.SENT, sent_at=utcnow(), last_error=reason, **kept)
                    log.warning("outbox message %s sent, not to every recipient: %s", message.id, reason)
                    return
            self._finish(message, status.FAILED, last_error=reason, **kept)
            log.warning("outbox message %s failed: %s", message.id, reason)
            return
        self._record_kept(
            message,
            status=status.QUEUED,
            next_attempt_at=utcnow() + timedelta(seconds=delay),
            last_error=reason,
            lease_until=None,
            leased_by=None,
            **kept,
        )
        metrics_registry.delivery_finished(message.organization.org_id, status.QUEUED)
        log.info("outbox message %s will be retried in %.0f s: %s", message.id, delay, reason)

    def release(self, messages: list[OutboxMessage]) -> None:
        """Give messages back untried (the attempt is not counted), due at once for the next pass."""
        if not messages:
            return
        with db.atomic():
            OutboxMessage.update(
                status=status.QUEUED,
                attempts=OutboxMessage.attempts - 1,
                lease_until=None,
                leased_by=None,
            ).where(
                OutboxMessage.id.in_([message.id for message in messages]),
                OutboxMessage.leased_by == self.lease_id,
            ).execute()

    def still_holds(self, message: OutboxMessage) -> bool:
        """Whether a message is still ours to send. After a stall longer than the lease (no heartbeat
        came through), another worker may have taken the rest of the batch over: it sends them, not us.
        So when no heartbeat has come through for a while (the whole process stalled), it asks first."""
        if time.monotonic() - self._renewed >= self.lease_seconds / 4:
            self.renew()
        return message.id in self._held

    def renew(self) -> None:
        """Push the lease of the messages still held further out (the worker's heartbeat, outbox/pool.py)."""
        asked = set(self._held)  # the heartbeat's thread renews while the delivery's may take more
        if not asked:
            return
        ours = OutboxMessage.id.in_(sorted(asked)) & (OutboxMessage.leased_by == self.lease_id)
        with db.atomic():
            OutboxMessage.update(lease_until=utcnow() + timedelta(seconds=self.lease_seconds)).where(
                ours
            ).execute()
            held = {row.id for row in OutboxMessage.select(OutboxMessage.id).where(ours)}
        # Only those asked about and no longer ours are dropped: a message recorded meanwhile stays done
        # (not |=), and one taken into the claim meanwhile (take_more) stays held.
        self._held -= asked - held
        self._renewed = time.monotonic()

    def rewrite(self, message: OutboxMessage, **fields) -> None:
        """Write fields into a row that stays ours to send (a request resolved into the mail it asked for).
        Inside the caller's transaction: raises LeaseLost, undoing it, if the row is no longer ours."""
        if not self._record(message, **fields):
            raise LeaseLost
        for name, value in fields.items():
            setattr(message, name, value)

    def drop(self, message: OutboxMessage) -> None:
        """Delete a row that turned out to need no mail (a request naming no account it may mail).
        Inside the caller's transaction: raises LeaseLost, undoing it, if the row is no longer ours."""
        if not OutboxMessage.delete().where(self._ours(message)).execute():
            raise LeaseLost

    def _finish(self, message: OutboxMessage, final_status: str, **fields) -> None:
        fields.update(status=final_status, lease_until=None, leased_by=None)
        fields.update(kinds.when_done(message, final_status))
        metrics_registry.delivery_finished(message.organization.org_id, final_status)
        self._record_kept(message, **fields)

    def _record_kept(self, message: OutboxMessage, **fields) -> None:
        # An outcome the server already gave (above all "sent") is kept until the database takes it: a
        # blip must not leave the row "sending", for the next claim to send the mail again.
        held_until_written(lambda: self._record(message, **fields), f"outbox message {message.id}")

    def _record(self, message: OutboxMessage, **fields) -> int:
        # Only while still ours: if the lease ran out and another worker took the row, its outcome counts.
        # A transaction of its own (on SQLite its BEGIN waits for the lock in short steps:
        # store/sqlite_file.py), or part of the caller's (rewrite) without a savepoint.
        with db.transaction():
            return OutboxMessage.update(**fields).where(self._ours(message)).execute()

    def _ours(self, message: OutboxMessage):
        return (OutboxMessage.id == message.id) & (OutboxMessage.leased_by == self.lease_id)
