"""The outbox worker: claims due mail, talks SMTP outside any transaction, records each outcome.

Organizations are delivered side by side by a pool of threads, beside a heartbeat thread that renews
their leases (outbox/pool.py); the worker's main thread claims, and runs the periodic tasks
(periodic_tasks). Each message is marked sent as soon as the server has taken it, and that fact is
kept until the database takes it (outbox/kept.py), so a worker killed between two messages never sends
one twice; only a death in the instant between the server's final reply and that mark can (the gap
SMTP itself leaves, RFC 1047), and then with the same Message-ID. Any number of workers on any number
of machines may run at once (see outbox/claim.py).
"""

import contextlib
import logging
import threading
import time

from ..mailserver import endpoint as mail_endpoint
from ..mailserver.fields import stored_values
from ..mailserver.store import settings_for
from ..smtp.transport import DeliveryError, SmtpEndpoint
from ..store import secretbox
from ..store.db import db
from ..store.retention import Pruner
from . import kinds, recipients
from .claim import Claim
from .compose import Outgoing, compose
from .due import Scope
from .latecomers import Latecomers
from .periodic import Periodic
from .pool import Deliveries
from .status import FAILED, FINAL

log = logging.getLogger(__name__)

DEFAULT_BATCH_SIZE = 100
NO_SETTINGS = "no mail sending server configured"
# A connection may take this many timeouts to open (connect, greeting, EHLO, STARTTLS, EHLO, AUTH) and
# each message this many more (RSET, MAIL, RCPT, DATA): together they make the connection's deadline.
OPEN_STEPS = 6
MESSAGE_STEPS = 4
# After these the connection cannot carry another message; the rest of the batch waits for a new one.
_CONNECTION_LOST = {"timeout", "disconnected", "network", "refused"}


def deliver_due(
    app, batch_size: int = DEFAULT_BATCH_SIZE, *, stop_event: threading.Event | None = None
) -> int:
    """One pass: claim up to batch_size due messages and deliver them, organizations side by side.

    Returns how many messages were claimed (each ends sent, failed, expired, or queued for a retry).
    """
    stop_event = stop_event or threading.Event()
    deliveries = Deliveries(app, _deliver_organization, int(app.config["OUTBOX_CONCURRENCY"]))
    try:
        with app.app_context():
            claimed = _claim_and_start(app, deliveries, batch_size, stop_event)
            _drain(deliveries)
    finally:
        deliveries.shutdown()
    return claimed


def run_worker(
    app,
    *,
    once: bool = False,
    stop_event: threading.Event | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
) -> None:
    """Deliver due mail until stop_event is set; with once, return when nothing more is due."""
    stop_event = stop_event or threading.Event()
    poll_seconds = float(app.config["WORKER_POLL_SECONDS"])
    deliveries = Deliveries(app, _deliver_organization, int(app.config["OUTBOX_CONCURRENCY"]))
    periodic = periodic_tasks(app)
    # This thread keeps one connection for the worker's life, dropped only after an error. With SQLite
    # this also keeps the WAL open, so a web request closing its connection is not the last one and
    # skips the checkpoint SQLite runs then.
    last_failure = None
    try:
        with app.app_context():
            while not stop_event.is_set():
                claimed = 0
                # Only a claim made with nothing in flight sees all that is due: an organization whose
                # mail is being sent is not claimed from meanwhile.
                idle_before = deliveries.idle()
                try:
                    if deliveries.has_room():
                        claimed = _claim_and_start(app, deliveries, batch_size, stop_event)
                    last_failure = None
                except Exception as error:
                    if once:
                        raise
                    # A database hiccup must not end the worker: the next pass tries again. The same
                    # failure pass after pass (no schema yet, say) is told once, not every second.
                    if repr(error) != last_failure:
                        log.exception("an outbox pass failed; trying again every %g s", poll_seconds)
                    last_failure = repr(error)
                    _close_database(app)
                periodic.run_due()
                if once and claimed < batch_size and idle_before and deliveries.idle():
                    return
                if claimed == 0:
                    _pause(deliveries, stop_event, min(poll_seconds, periodic.seconds_to_next()))
            _drain(deliveries)  # the mail in hand is finished (the rest released), leases renewed
    finally:
        deliveries.shutdown()
        _close_database(app)


def periodic_tasks(app) -> Periodic:
    """What the worker does between claims, each on its own interval, in the worker's main thread: one
    line per task, periodic.every(seconds, name, function), added here (pruning, metrics). The lease
    heartbeat is not one of them: it has a thread of its own (outbox/pool.py), which no task can delay."""
    periodic = Periodic()
    pruner = Pruner(app, FINAL, FAILED)  # retention: a short pass every PRUNE_INTERVAL_SECONDS
    if pruner.interval > 0:
        # The pruner keeps its own schedule (sooner while work is left over): asking often is enough.
        periodic.every(min(pruner.interval, 5.0), "pruning", pruner.run_if_due)
    return periodic


def _claim_and_start(app, deliveries: Deliveries, batch_size: int, stop_event) -> int:
    claim = Claim.take(
        batch_size,
        lease_seconds=float(app.config["OUTBOX_LEASE_SECONDS"]),
        scope=Scope(skip=deliveries.busy_organizations()),
    )
    deliveries.start(claim, stop_event)
    return len(claim.messages)


def _pause(deliveries: Deliveries, stop_event: threading.Event, seconds: float) -> None:
    """Wait up to seconds: less if a delivery ends (its organization may have more) or the worker stops."""
    if deliveries.idle():
        stop_event.wait(seconds)
    else:
        deliveries.wait(seconds)


def _drain(deliveries: Deliveries) -> None:
    """Wait for every delivery in hand to end (the heartbeat renews their leases meanwhile)."""
    while not deliveries.idle():
        deliveries.wait(1.0)


def _close_database(app) -> None:
    with app.app_context(), contextlib.suppress(Exception):
        db.close()


def endpoint_for(settings, config) -> SmtpEndpoint:
    """The endpoint of an organization's settings, with its stored secrets opened and the process's
    token cache for OAuth 2.0 (one token for many mails, per organization)."""
    return mail_endpoint.delivery_endpoint(
        stored_values(settings),
        mail_endpoint.stored_secrets(settings),
        mail_endpoint.SmtpOptions.from_config(config),
        organization_id=settings.organization_id,
        cache=mail_endpoint.process_token_cache(),
    )


def _deliver_organization(config, claim: Claim, organization, messages, stop_event) -> None:
    opened = _endpoint(config, claim, organization, messages)
    if opened is None:
        return
    settings, endpoint = opened
    # Each message is made ready (its kind's prepare, then compose) just before it is sent, so the
    # worker's writes come one at a time between SMTP exchanges: a burst of them (reset requests
    # resolved, say) would keep web requests waiting for SQLite's write lock. The connection opens once
    # one is ready.
    waiting = list(messages)
    ready = _next_to_send(claim, waiting, settings, organization)
    if ready is None:
        return
    # The connection's deadline: its timeouts added up, never past the organization's own deadline, so
    # a server that answers each command just in time holds only this organization's thread, and not long.
    steps = OPEN_STEPS + MESSAGE_STEPS * (1 + len(waiting))
    deadline = time.monotonic() + min(endpoint.timeout * steps, float(config["OUTBOX_ORGANIZATION_SECONDS"]))
    latecomers = Latecomers(claim, organization, float(config["WORKER_POLL_SECONDS"]), DEFAULT_BATCH_SIZE)
    with contextlib.ExitStack() as stack:
        try:
            session = stack.enter_context(mail_endpoint.open_session(endpoint, deadline))
        except DeliveryError as error:
            _fail_all(
                claim,
                [ready[0], *waiting],
                error.reason,
                permanent=error.permanent,
                retry_after=error.retry_after,
            )
            return
        while ready is not None:
            sent_on = _send(claim, session, *ready)
            if not sent_on or (stop_event is not None and stop_event.is_set()) or time.monotonic() > deadline:
                claim.release(waiting)  # the rest is due again at once: claimed by the next pass
                return
            latecomers.join(waiting)
            ready = _next_to_send(claim, waiting, settings, organization)


def _endpoint(config, claim: Claim, organization, messages):
    """(settings, endpoint) of the organization, read now so edits made after queuing apply; or None,
    with every message's failure recorded, when its mail cannot be sent that way."""
    settings = settings_for(organization)
    if settings is None:
        _fail_all(claim, messages, NO_SETTINGS, permanent=True)
        return None
    try:
        endpoint = endpoint_for(settings, config)
    except secretbox.SecretUnreadable as error:
        # Retried: once the administrator enters the password again, the queued mail goes out.
        _fail_all(claim, messages, str(error), permanent=False)
        return None
    except ValueError as error:
        _fail_all(claim, messages, f"the settings cannot be used: {error}", permanent=True)
        return None
    return settings, endpoint


def _send(claim: Claim, session, message, outgoing: Outgoing) -> bool:
    """Send one message and record its outcome, each recipient's too; False when the connection cannot
    carry another."""
    try:
        sent = session.send(outgoing.message, outgoing.envelope_from, outgoing.recipients)
    except DeliveryError as error:
        if error.refused:  # every recipient tried was refused, each with its own reply
            outcomes = recipients.after_attempt(message, refused=error.refused)
            _record_outcomes(claim, message, outcomes, error.reason)
        else:
            claim.fail(message, error.reason, permanent=error.permanent, retry_after=error.retry_after)
        return not (error.kind in _CONNECTION_LOST or error.smtp_code == 421)
    _record_outcomes(claim, message, recipients.after_attempt(message, sent), sent.reply)
    return True


def _record_outcomes(claim: Claim, message, outcomes: dict, reply: str) -> None:
    """Queued again while a recipient is refused for now, sent once one accepted and none waits,
    failed when none accepted. reply: the server's last word, the reason when no recipient accepted."""
    tally = recipients.counts(message, outcomes)
    reason = recipients.summary(message, outcomes) if tally[recipients.ACCEPTED] else reply
    if tally[recipients.RETRYING] or not tally[recipients.ACCEPTED]:
        claim.fail(message, reason, permanent=not tally[recipients.RETRYING], outcomes=outcomes)
    else:
        claim.sent(message, reply, outcomes=outcomes)


def _fail_all(claim: Claim, messages, reason: str, *, permanent: bool, retry_after=None) -> None:
    for message in messages:
        claim.fail(message, reason, permanent=permanent, retry_after=retry_after)


def _next_to_send(claim: Claim, waiting: list, settings, organization):
    """Take messages off `waiting` until one is ready to send: (message, outgoing), or None. Those
    that must not be sent have their outcome recorded on the way."""
    while waiting:
        message = waiting.pop(0)
        if not claim.still_holds(message):
            log.warning(
                "outbox message %s was taken over by another worker; not sent by this one", message.id
            )
            continue
        outgoing = _prepare(claim, message, settings, organization)
        if outgoing is not None:
            return message, outgoing
    return None


def _prepare(claim: Claim, message, settings, organization) -> Outgoing | None:
    """The message ready to send, or None when it must not be sent (its outcome is then recorded)."""
    kind = kinds.find(message.kind)
    if kind is None:
        claim.fail(
            message, f"unknown kind of mail {message.kind!r}: this worker cannot send it", permanent=True
        )
        return None
    if kind.prepare is not None and not kind.prepare(claim, message, settings):
        return None
    try:
        return compose(message, settings, organization.name)
    except secretbox.SecretUnreadable as error:
        claim.fail(message, f"the message body cannot be decrypted: {error}", permanent=True)
    except ValueError as error:
        claim.fail(message, str(error), permanent=True)
    return None
