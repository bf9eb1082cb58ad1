"""Organizations delivered side by side: a bounded pool of threads, one connection per organization.

A claim is split by organization; each part is delivered by one thread of the pool, so a slow or stalled
server holds up only its own organization's mail, and at most EXASTRO_MAIL_OUTBOX_CONCURRENCY
organizations are being delivered at once. An organization being delivered is not claimed again until
its thread is done, so no organization gets two connections from one worker. The heartbeat, a thread
of its own (so that no claim waiting for SQLite's write lock can delay it), renews the lease of every
part held, running or waiting for a thread.
"""

import contextlib
import logging
import threading
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait

from ..store.db import db
from .claim import Claim

log = logging.getLogger(__name__)


class Deliveries:
    """The parts of claims this worker holds, each delivered by deliver(config, part, organization,
    messages, stop_event) in a thread of its own app context."""

    def __init__(self, app, deliver, concurrency: int):
        self.app = app
        self.concurrency = concurrency
        self._deliver = deliver
        self._pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="outbox-delivery")
        self._held: dict[int, tuple[Claim, object]] = {}  # organization id -> (its part, its future)
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._heartbeat = threading.Thread(
            target=self._beat, args=(float(app.config["OUTBOX_HEARTBEAT_SECONDS"]),), daemon=True
        )
        self._heartbeat.start()

    def busy_organizations(self) -> set[int]:
        with self._lock:
            return set(self._held)

    def has_room(self) -> bool:
        """Whether a thread is free for another organization (so claiming more is worth it)."""
        with self._lock:
            return len(self._held) < self.concurrency

    def idle(self) -> bool:
        with self._lock:
            return not self._held

    def start(self, claim: Claim, stop_event: threading.Event) -> None:
        """Hand each organization's part of the claim to a thread (queued while every thread is busy)."""
        for organization, messages in claim.by_organization():
            part = claim.part(messages)
            if stop_event.is_set():
                part.release(messages)
                continue
            with self._lock:
                future = self._pool.submit(self._run, organization, part, messages, stop_event)
                self._held[organization.id] = (part, future)

    def renew_leases(self) -> None:
        """The heartbeat: push out the lease of every part held, so no other worker takes it over."""
        with self._lock:
            parts = [part for part, _ in self._held.values()]
        for part in parts:
            part.renew()

    def wait(self, timeout: float) -> None:
        """Until a part is done, or timeout seconds."""
        with self._lock:
            futures = [future for _, future in self._held.values()]
        if futures:
            wait(futures, timeout=timeout, return_when=FIRST_COMPLETED)

    def shutdown(self) -> None:
        """Wait for the deliveries in hand (their leases renewed meanwhile), then stop the heartbeat."""
        self._pool.shutdown(wait=True)
        self._stopped.set()
        self._heartbeat.join()

    def _beat(self, seconds: float) -> None:
        failing = None
        with self.app.app_context():
            while not self._stopped.wait(seconds):
                try:
                    self.renew_leases()
                    failing = None
                except Exception as error:  # a database blip: the next beat tries again
                    if repr(error) != failing:
                        log.warning("the lease heartbeat failed (%s); trying again in %g s", error, seconds)
                    failing = repr(error)
                    with contextlib.suppress(Exception):
                        db.close()
            with contextlib.suppress(Exception):
                db.close()

    def _run(self, organization, part: Claim, messages, stop_event: threading.Event) -> None:
        try:
            with self.app.app_context():
                try:
                    if stop_event.is_set():
                        part.release(messages)
                    else:
                        self._deliver(self.app.config, part, organization, messages, stop_event)
                finally:
                    # A pooled connection goes back to the pool; a broken one is dropped.
                    with contextlib.suppress(Exception):
                        db.close()
        except Exception:
            # The rows still "sending" are claimed again once their lease runs out (no heartbeat now).
            log.exception(
                "delivering to organization %s failed; its mail is tried again later", organization.id
            )
        finally:
            with self._lock:
                self._held.pop(organization.id, None)
