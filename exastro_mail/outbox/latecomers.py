"""Reset mails that come due while an organization's batch is being sent (see Latecomers)."""

import time

from . import kinds
from .claim import Claim
from .due import Scope


class Latecomers:
    """Mail someone waits for at the screen (a reset link) that came due while an organization's batch
    is being sent: claimed into the batch, at most once a poll interval, to go next on its connection.
    Otherwise an organization being delivered is not claimed from, and a reset would wait behind a
    hundred notifications (seconds, for a worker at nice 10 on a busy machine)."""

    def __init__(self, claim: Claim, organization, seconds: float, batch_size: int):
        self.claim = claim
        self.batch_size = batch_size
        self.scope = Scope(only=frozenset({organization.id}), min_priority=kinds.PRIORITY_WAITING)
        self.seconds = seconds
        self.looked = time.monotonic()

    def join(self, waiting: list) -> None:
        """Claim the latecomers, once the interval has passed, into waiting: after the mail of their
        priority already there (first come, first served), ahead of the rest."""
        if time.monotonic() - self.looked < self.seconds:
            return
        self.looked = time.monotonic()
        latecomers = self.claim.take_more(self.batch_size, self.scope)
        if latecomers:
            floor = min(message.priority for message in latecomers)
            at = next((n for n, message in enumerate(waiting) if message.priority < floor), len(waiting))
            waiting[at:at] = latecomers
