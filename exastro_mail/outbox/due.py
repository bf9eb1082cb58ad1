"""Which mail a claim takes, as queries the indexes answer in their own order (see outbox/claim.py).

Mail whose lease ran out comes first (its worker died: it is the most overdue), read through the index
on (status, lease_until); then each priority's queued mail that is due, highest first, oldest first,
through the index on (status, priority, next_attempt_at). None of them reads the mail kept after sending.
A Scope narrows a claim to some organizations and priorities (the resets a batch in hand takes in,
outbox/latecomers.py).
"""

from dataclasses import dataclass

from ..store.db import MYSQL, engine
from ..store.models import OutboxMessage
from . import kinds, status

CLAIM_CANDIDATES = 4  # on the server engines a claim looks at this many times its batch (see lock)


@dataclass(frozen=True)
class Scope:
    """Whose mail a claim may take: none of skip (organizations being delivered already), only those of
    only when given, and only mail of min_priority or higher when given."""

    skip: frozenset[int] = frozenset()
    only: frozenset[int] | None = None
    min_priority: int | None = None

    def organizations(self):
        """The condition on a row's organization (True: any)."""
        if self.only is not None:  # a batch's own organization: skip never names it
            return OutboxMessage.organization.in_(sorted(self.only - self.skip))
        return OutboxMessage.organization.not_in(sorted(self.skip)) if self.skip else True

    def priorities(self) -> list[int]:
        """The priorities claimed, highest first."""
        floor = self.min_priority
        return [priority for priority in kinds.priorities() if floor is None or priority >= floor]

    def condition(self):
        """The condition on a row's organization and priority."""
        if self.min_priority is None:
            return self.organizations()
        return (OutboxMessage.priority >= self.min_priority) & self.organizations()


EVERYONE = Scope()


def candidates(now, scope: Scope, limit: int) -> list[list[int]]:
    """Ids of up to limit due messages in scope, in groups in the order they are claimed (see above)."""
    groups = [[row.id for row in leases_run_out(now, scope.condition()).limit(limit)]]
    for priority in scope.priorities():
        room = limit - sum(map(len, groups))
        if room <= 0:
            break
        groups.append([row.id for row in queued_due(now, priority, scope.organizations()).limit(room)])
    return [group for group in groups if group]


def leases_run_out(now, skip=True):
    """The query of mail whose worker died (its lease ran out), longest overdue first."""
    return (
        OutboxMessage.select(OutboxMessage.id)
        .where((OutboxMessage.status == status.SENDING) & (OutboxMessage.lease_until < now) & skip)
        .order_by(OutboxMessage.lease_until)
    )


def queued_due(now, priority: int, skip=True):
    """The query of one priority's queued mail that is due, oldest first, read in the order of the
    index on (status, priority, next_attempt_at): no tie-breaker by id, which PostgreSQL would sort."""
    return (
        OutboxMessage.select(OutboxMessage.id)
        .where(
            (OutboxMessage.status == status.QUEUED)
            & (OutboxMessage.priority == priority)
            & (OutboxMessage.next_attempt_at <= now)
            & skip
        )
        .order_by(OutboxMessage.next_attempt_at)
    )


def lock(groups: list[list[int]], due, batch_size: int) -> list[int]:
    """PostgreSQL, MariaDB: up to batch_size of the candidates, group by group, still due and that no
    other worker can take until commit, passing over those another worker is claiming right now. Not in
    the sorting queries themselves: InnoDB would lock every due row it read for the sort, and the other
    workers would find nothing to take. Extra candidates leave room for claims in progress."""
    ids: list[int] = []
    for group in groups:
        if len(ids) >= batch_size:
            break
        locked = OutboxMessage.select(OutboxMessage.id).where(OutboxMessage.id.in_(group) & due)
        if engine() != MYSQL:
            # Oldest first within the group. MariaDB 10.11 with this ORDER BY passed over the free rows
            # too and took none while another claim held some (tests/test_engines.py); unordered, its
            # IN-list is read in key order anyway.
            locked = locked.order_by(OutboxMessage.id)
        locked = locked.limit(batch_size - len(ids)).for_update(skip_locked=True)
        ids += [row.id for row in locked]
    return ids


def due(now):
    """The condition of a row a claim may take: queued and due, or its lease run out."""
    return ((OutboxMessage.status == status.QUEUED) & (OutboxMessage.next_attempt_at <= now)) | (
        (OutboxMessage.status == status.SENDING) & (OutboxMessage.lease_until < now)
    )
