"""The outbox worker: claims due mail atomically, talks SMTP outside any transaction, records each outcome.

A claim marks rows "sending" under a lease id until lease_until. A worker that dies leaves its rows to be
claimed again once the lease has passed, so nothing stays stuck (and a worker that merely stalled that
long leaves the rest of its batch to the one that took it over). Each message is marked sent as soon as
the server has taken it, so a worker killed between two messages never sends one twice; only a death
in the instant between the server's final reply and that mark can (the gap SMTP itself leaves, RFC 1047),
and then with the same Message-ID.

Any number of workers on any number of machines may run at once: on PostgreSQL and MariaDB a claim
locks the rows it takes (FOR UPDATE SKIP LOCKED, so workers never wait on each other's rows), on SQLite
the claim is one IMMEDIATE transaction (SQLite has a single writer).
"""

import contextlib
import logging
import os
import random
import secrets
import socket
import threading
import time
from datetime import timedelta

from ..mailserver import endpoint as mail_endpoint
from ..mailserver.fields import stored_values
from ..mailserver.store import settings_for
from ..password_reset import flow
from ..password_reset.tokens import token_problem
from ..smtp.transport import DeliveryError, SmtpEndpoint, SmtpSession
from ..store import secretbox
from ..store.db import db, is_sqlite
from ..store.models import Organization, OutboxMessage, ResetToken, User, utcnow
from . import status
from .compose import Outgoing, compose
from .enqueue import KIND_PASSWORD_RESET, enqueue_mail, seal_body, stored_recipients

log = logging.getLogger(__name__)

DEFAULT_BATCH_SIZE = 100
NO_SETTINGS = "no mail sending server configured"
# A connection may take this many timeouts to open (connect, greeting, EHLO, STARTTLS, EHLO, AUTH) and
# each message this many more (RSET, MAIL, RCPT, DATA): together they make the connection's deadline.
OPEN_STEPS = 6
MESSAGE_STEPS = 4
# After these the connection cannot carry another message; the rest of the batch waits for a new one.
_CONNECTION_LOST = {"timeout", "disconnected", "network", "refused"}
_MIN_RETRY_SECONDS = 0.01  # a zero base would retry in a tight loop forever
CLAIM_CANDIDATES = 4  # on the server engines a claim looks at this many times its batch (see _lock_due)


def deliver_due(
    app, batch_size: int = DEFAULT_BATCH_SIZE, *, stop_event: threading.Event | None = None
) -> int:
    """One pass: claim up to batch_size due messages, deliver them organization by organization.

    Returns how many messages were claimed (each ends sent, failed, expired, or queued for a retry).
    """
    with app.app_context():
        claim = Claim.take(batch_size, lease_seconds=float(app.config["OUTBOX_LEASE_SECONDS"]))
        for organization, messages in claim.by_organization():
            if stop_event is not None and stop_event.is_set():
                claim.release(messages)
                continue
            _deliver_organization(app.config, claim, organization, messages, stop_event)
        return len(claim.messages)


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
    # One connection for the worker's life, dropped only after an error. With SQLite this also keeps
    # the WAL open, so a web request closing its connection is not the last one and skips the
    # checkpoint SQLite runs then.
    last_failure = None
    try:
        while not stop_event.is_set():
            try:
                claimed = deliver_due(app, batch_size, stop_event=stop_event)
                last_failure = None
            except Exception as error:
                if once:
                    raise
                # A database hiccup must not end the worker: the next pass tries again. The same
                # failure pass after pass (no schema yet, say) is told once, not every second.
                if repr(error) != last_failure:
                    log.exception("an outbox pass failed; trying again every %.1f s", poll_seconds)
                last_failure = repr(error)
                _close_database(app)
                claimed = 0
            if once and claimed < batch_size:
                return
            if claimed == 0:
                stop_event.wait(poll_seconds)
    finally:
        _close_database(app)


def _close_database(app) -> None:
    with app.app_context(), contextlib.suppress(Exception):
        db.close()


def retry_delay(attempts: int, *, base: float, cap: float, give_up: float, rng=random) -> float | None:
    """Seconds to wait after the attempts-th failed try (doubling from base up to cap, with jitter), or None.

    None means give up: the planned waits would pass give_up seconds. Counting by attempts, not by the
    clock, gives a mail its full budget even when the worker was down, and afresh after retry_now.
    """
    delay = max(float(base), _MIN_RETRY_SECONDS)
    waited = 0.0
    for _ in range(1, attempts):
        waited += min(delay, cap)
        delay = min(delay * 2, cap)
        if waited > give_up:
            return None
    delay = min(delay, cap)
    if waited + delay > give_up:
        return None
    return delay / 2 + rng.uniform(0, delay / 2)  # "equal jitter": workers that failed together spread out


def endpoint_for(settings, config) -> SmtpEndpoint:
    """The SMTP endpoint of an organization's settings, with the stored password opened."""
    password, options = mail_endpoint.stored_password(settings), mail_endpoint.SmtpOptions.from_config(config)
    return mail_endpoint.endpoint_for(stored_values(settings), password, options)


class LeaseLost(Exception):
    """Another worker took the message over (this one stalled past its lease): its outcome counts."""


class Claim:
    """The messages one pass of a worker holds under its lease id, and how their outcomes are recorded."""

    def __init__(self, lease_id: str, lease_seconds: float, messages: list[OutboxMessage]):
        self.lease_id = lease_id
        self.lease_seconds = lease_seconds
        self.messages = messages
        self._held = {message.id for message in messages}
        self._renewed = time.monotonic()

    @classmethod
    def take(cls, batch_size: int, lease_seconds: float) -> "Claim":
        """Atomically mark up to batch_size due messages (or ones whose lease ran out) as ours."""
        lease_id = f"{socket.gethostname()[:40]}:{os.getpid()}:{secrets.token_hex(4)}"
        now = utcnow()
        due = _due(now)
        # Look before taking the write lock: an idle worker should not queue up behind requests.
        if not OutboxMessage.select().where(due).exists():
            return cls(lease_id, lease_seconds, [])
        with db.atomic():
            ids = _lock_due(due, batch_size)
            if ids:
                # The condition is repeated: a row must still be due when it is taken.
                OutboxMessage.update(
                    status=status.SENDING,
                    leased_by=lease_id,
                    lease_until=now + timedelta(seconds=lease_seconds),
                    attempts=OutboxMessage.attempts + 1,
                ).where(OutboxMessage.id.in_(ids) & due).execute()
        messages = list(
            OutboxMessage.select(OutboxMessage, Organization)
            .join(Organization)
            .where(OutboxMessage.leased_by == lease_id, OutboxMessage.status == status.SENDING)
            .order_by(OutboxMessage.id)
        )
        return cls(lease_id, lease_seconds, messages)

    def by_organization(self):
        """(organization, messages) pairs, so each organization's mail shares one connection."""
        groups: dict[int, tuple[Organization, list[OutboxMessage]]] = {}
        for message in self.messages:
            groups.setdefault(message.organization_id, (message.organization, []))[1].append(message)
        return list(groups.values())

    def sent(self, message: OutboxMessage, reply: str) -> None:
        """Record that the server took the message (a reset mail's body, with its link, is erased)."""
        log.info("outbox message %s sent: %s", message.id, reply)
        # At once, before the next message: a worker killed later must not leave this one to be re-sent.
        self._finish(message, status.SENT, sent_at=utcnow())

    def expired(self, message: OutboxMessage, reason: str) -> None:
        """Record that a reset mail will never be sent because its link no longer works."""
        self._finish(message, status.EXPIRED, last_error=reason)
        log.info("outbox message %s expired: %s", message.id, reason)

    def fail(self, message: OutboxMessage, reason: str, *, permanent: bool, config) -> None:
        """Record a failed attempt: failed for good, or queued again after a backoff."""
        delay = None
        if not permanent:
            delay = retry_delay(
                message.attempts,
                base=float(config["OUTBOX_RETRY_BASE_SECONDS"]),
                cap=float(config["OUTBOX_RETRY_MAX_SECONDS"]),
                give_up=float(config["OUTBOX_GIVE_UP_SECONDS"]),
            )
        if delay is None:
            if not permanent:
                reason = f"gave up after {message.attempts} attempts: {reason}"
            self._finish(message, status.FAILED, last_error=reason)
            log.warning("outbox message %s failed: %s", message.id, reason)
            return
        self._record(
            message,
            status=status.QUEUED,
            next_attempt_at=utcnow() + timedelta(seconds=delay),
            last_error=reason,
            lease_until=None,
            leased_by=None,
        )
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
                OutboxMessage.status == status.SENDING,
            ).execute()

    def still_holds(self, message: OutboxMessage) -> bool:
        """Whether a message is still ours to send (renewing the lease when due). After a stall longer
        than the lease, another worker may have taken the rest of the batch over: it sends them, not us."""
        self.renew_if_due()
        return message.id in self._held

    def renew_if_due(self) -> None:
        """Push the lease of the messages still held further out once a quarter of it has passed."""
        if time.monotonic() - self._renewed < self.lease_seconds / 4:
            return
        ours = (OutboxMessage.leased_by == self.lease_id) & (OutboxMessage.status == status.SENDING)
        with db.atomic():
            OutboxMessage.update(lease_until=utcnow() + timedelta(seconds=self.lease_seconds)).where(
                ours
            ).execute()
            self._held = {row.id for row in OutboxMessage.select(OutboxMessage.id).where(ours)}
        self._renewed = time.monotonic()

    def resolved(self, message: OutboxMessage, **fields) -> None:
        """Write what a forgot-password request resolved to into its row, which stays ours to send.
        Inside the caller's transaction: raises LeaseLost, undoing it, if the row is no longer ours."""
        fields["reset_request"] = None
        if not self._record(message, **fields):
            raise LeaseLost
        for name, value in fields.items():
            setattr(message, name, value)

    def drop(self, message: OutboxMessage) -> None:
        """Delete a forgot-password request that names no account it may mail (audited by the caller).
        Inside the caller's transaction: raises LeaseLost, undoing it, if the row is no longer ours."""
        if not OutboxMessage.delete().where(self._ours(message)).execute():
            raise LeaseLost

    def _finish(self, message: OutboxMessage, final_status: str, **fields) -> None:
        fields.update(status=final_status, lease_until=None, leased_by=None)
        if message.kind == KIND_PASSWORD_RESET:
            fields.update(body_text=None, body_html=None, reset_request=None)
        self._record(message, **fields)

    def _record(self, message: OutboxMessage, **fields) -> int:
        # Only while still ours: if the lease ran out and another worker took the row, its outcome counts.
        with db.atomic():
            return OutboxMessage.update(**fields).where(self._ours(message)).execute()

    def _ours(self, message: OutboxMessage):
        return (
            (OutboxMessage.id == message.id)
            & (OutboxMessage.leased_by == self.lease_id)
            & (OutboxMessage.status == status.SENDING)
        )


def _lock_due(due, batch_size: int) -> list[int]:
    """Ids of up to batch_size due messages, oldest first, that no other worker can take until commit."""
    oldest = (
        OutboxMessage.select(OutboxMessage.id)
        .where(due)
        .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
    )
    if is_sqlite():
        return [
            row.id for row in oldest.limit(batch_size)
        ]  # the IMMEDIATE transaction shuts out every writer
    # PostgreSQL, MariaDB: lock rows picked by id, passing over those another worker is claiming right
    # now. Not in the sorting query itself: InnoDB would lock every due row it read for the sort, and
    # the other workers would find nothing to take. Extra candidates leave room for claims in progress.
    candidates = [row.id for row in oldest.limit(batch_size * CLAIM_CANDIDATES)]
    if not candidates:
        return []
    locked = (
        OutboxMessage.select(OutboxMessage.id)
        .where(OutboxMessage.id.in_(candidates) & due)
        .order_by(OutboxMessage.id)
        .limit(batch_size)
        .for_update(skip_locked=True)
    )
    return [row.id for row in locked]


def _due(now):
    return ((OutboxMessage.status == status.QUEUED) & (OutboxMessage.next_attempt_at <= now)) | (
        (OutboxMessage.status == status.SENDING) & (OutboxMessage.lease_until < now)
    )


def _deliver_organization(config, claim: Claim, organization, messages, stop_event) -> None:
    settings = settings_for(organization)  # read now, so edits made after queuing apply
    if settings is None:
        for message in messages:
            claim.fail(message, NO_SETTINGS, permanent=True, config=config)
        return
    try:
        endpoint = endpoint_for(settings, config)
    except secretbox.SecretUnreadable as error:
        # Retried: once the administrator enters the password again, the queued mail goes out.
        for message in messages:
            claim.fail(message, str(error), permanent=False, config=config)
        return
    except ValueError as error:
        for message in messages:
            claim.fail(message, f"the settings cannot be used: {error}", permanent=True, config=config)
        return

    # Each message is made ready (a reset request resolved, its mail written) just before it is sent,
    # so the worker's writes come one at a time between SMTP exchanges: a burst of them would keep
    # web requests waiting for SQLite's write lock. The connection opens once one is ready.
    waiting = list(messages)
    ready = _next_to_send(config, claim, waiting, settings, organization)
    if ready is None:
        return
    deadline = time.monotonic() + endpoint.timeout * (OPEN_STEPS + MESSAGE_STEPS * (1 + len(waiting)))
    with contextlib.ExitStack() as stack:
        try:
            session = stack.enter_context(SmtpSession(endpoint, deadline))
        except DeliveryError as error:
            for message in [ready[0], *waiting]:
                claim.fail(message, error.reason, permanent=error.permanent, config=config)
            return
        while ready is not None:
            message, outgoing = ready
            try:
                reply = session.send(outgoing.message, outgoing.envelope_from, outgoing.recipients)
            except DeliveryError as error:
                claim.fail(message, error.reason, permanent=error.permanent, config=config)
                if error.kind in _CONNECTION_LOST or error.smtp_code == 421:
                    claim.release(waiting)
                    return
            else:
                claim.sent(message, reply)
            if stop_event is not None and stop_event.is_set():
                claim.release(waiting)
                return
            ready = _next_to_send(config, claim, waiting, settings, organization)


def _next_to_send(config, claim: Claim, waiting: list, settings, organization):
    """Take messages off `waiting` until one is ready to send: (message, outgoing), or None. Those
    that must not be sent have their outcome recorded on the way."""
    while waiting:
        message = waiting.pop(0)
        if not claim.still_holds(message):
            log.warning(
                "outbox message %s was taken over by another worker; not sent by this one", message.id
            )
            continue
        outgoing = _prepare(config, claim, message, settings, organization)
        if outgoing is not None:
            return message, outgoing
    return None


def _prepare(config, claim: Claim, message, settings, organization) -> Outgoing | None:
    """The message ready to send, or None when it must not be sent (its outcome is then recorded)."""
    if message.reset_request is not None and not _resolve_reset_request(config, claim, message, organization):
        return None
    if message.kind == KIND_PASSWORD_RESET:
        problem = _reset_link_problem(message)
        if problem:
            claim.expired(message, f"not sent: {problem}")
            return None
    try:
        return compose(message, settings, organization.name)
    except secretbox.SecretUnreadable as error:
        claim.fail(message, f"the message body cannot be decrypted: {error}", permanent=True, config=config)
    except ValueError as error:
        claim.fail(message, str(error), permanent=True, config=config)
    return None


def _resolve_reset_request(config, claim: Claim, message, organization) -> bool:
    """Turn a forgot-password request into the mails it asks for: the row becomes the first account's
    mail, another account's (several may share an address) is queued beside it. False: nothing to send."""
    try:
        identifier = secretbox.unseal(message.reset_request)
    except secretbox.SecretUnreadable:
        reason = "the request cannot be decrypted with EXASTRO_MAIL_ENCRYPTION_KEY; ask again"
        claim.fail(message, reason, permanent=True, config=config)
        return False
    mails = flow.write_reset_mails(organization, identifier)  # templates rendered outside the transaction
    try:
        with db.atomic():
            issued = flow.issue_reset_mails(organization, mails, now=utcnow())
            if not issued:
                claim.drop(message)
                return False
            (first, first_token), *others = issued
            for mail, token_row in others:
                enqueue_mail(
                    organization,
                    KIND_PASSWORD_RESET,
                    to=[mail.user.email],
                    subject=mail.subject,
                    body_text=mail.body_text,
                    body_html=mail.body_html,
                    reset_token=token_row,
                    locale=mail.user.locale,
                )
            claim.resolved(
                message,
                recipients=stored_recipients(to=[first.user.email]),
                subject=first.subject,
                body_text=seal_body(first.body_text),
                body_html=seal_body(first.body_html),
                reset_token=first_token.id,
                locale=first.user.locale,
            )
    except LeaseLost:
        log.warning(
            "outbox message %s was taken over by another worker; not resolved by this one", message.id
        )
        return False
    return True


def _reset_link_problem(message) -> str | None:
    token = (
        ResetToken.select(ResetToken, User).join(User).where(ResetToken.id == message.reset_token_id).first()
        if message.reset_token_id is not None
        else None
    )
    if token is None:
        return "the reset link no longer exists"
    return token_problem(token, token.user, utcnow())
