"""The outbox worker: claims due mail, talks SMTP outside any transaction, records each outcome.

Each message is marked sent as soon as the server has taken it, so a worker killed between two messages
never sends one twice; only a death in the instant between the server's final reply and that mark can
(the gap SMTP itself leaves, RFC 1047), and then with the same Message-ID. Any number of workers on any
number of machines may run at once (see outbox/claim.py).
"""

import contextlib
import functools
import logging
import socket
import threading
import time

from ..mailserver import endpoint as mail_endpoint
from ..mailserver.fields import stored_values
from ..mailserver.store import settings_for
from ..password_reset import flow
from ..password_reset.tokens import token_problem
from ..smtp.transport import DeliveryError, SmtpEndpoint, SmtpSession
from ..store import secretbox
from ..store.db import db
from ..store.models import ResetToken, User, utcnow
from .claim import Claim, LeaseLost
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


def endpoint_for(settings, config) -> SmtpEndpoint:
    """The SMTP endpoint of an organization's settings, with the stored password opened."""
    password, options = mail_endpoint.stored_password(settings), mail_endpoint.SmtpOptions.from_config(config)
    return mail_endpoint.endpoint_for(stored_values(settings), password, options)


def _deliver_organization(config, claim: Claim, organization, messages, stop_event) -> None:
    settings = settings_for(organization)  # read now, so edits made after queuing apply
    if settings is None:
        for message in messages:
            claim.fail(message, NO_SETTINGS, permanent=True)
        return
    try:
        endpoint = endpoint_for(settings, config)
    except secretbox.SecretUnreadable as error:
        # Retried: once the administrator enters the password again, the queued mail goes out.
        for message in messages:
            claim.fail(message, str(error), permanent=False)
        return
    except ValueError as error:
        for message in messages:
            claim.fail(message, f"the settings cannot be used: {error}", permanent=True)
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
            session = stack.enter_context(SmtpSession(endpoint, _local_hostname(), deadline))
        except DeliveryError as error:
            for message in [ready[0], *waiting]:
                claim.fail(message, error.reason, permanent=error.permanent)
            return
        while ready is not None:
            message, outgoing = ready
            try:
                reply = session.send(outgoing.message, outgoing.envelope_from, outgoing.recipients)
            except DeliveryError as error:
                claim.fail(message, error.reason, permanent=error.permanent)
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
        claim.fail(message, f"the message body cannot be decrypted: {error}", permanent=True)
    except ValueError as error:
        claim.fail(message, str(error), permanent=True)
    return None


def _resolve_reset_request(config, claim: Claim, message, organization) -> bool:
    """Turn a forgot-password request into the mails it asks for: the row becomes the first account's
    mail, another account's (several may share an address) is queued beside it. False: nothing to send."""
    try:
        identifier = secretbox.unseal(message.reset_request)
    except secretbox.SecretUnreadable:
        reason = "the request cannot be decrypted with EXASTRO_MAIL_ENCRYPTION_KEY; ask again"
        claim.fail(message, reason, permanent=True)
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
            claim.rewrite(
                message,
                recipients=stored_recipients(to=[first.user.email]),
                subject=first.subject,
                body_text=seal_body(first.body_text),
                body_html=seal_body(first.body_html),
                reset_token=first_token.id,
                locale=first.user.locale,
                reset_request=None,
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


@functools.cache
def _local_hostname() -> str:
    """The name given in EHLO, looked up once: getfqdn can take seconds where reverse DNS is slow."""
    return socket.getfqdn()
