"""The password reset's kinds of outbox mail: the reset mail (with the forgot-password request it is
resolved from) and the notice that a password was changed.

A forgot-password request is queued as typed, sealed and without recipients, so no account is looked up
while the user waits. Just before sending, the worker calls the reset kind's prepare: it resolves the
request into a mail for each account the text names (the row becomes the first, the others are queued
beside it) or drops a request that names none, and it refuses a mail whose link stopped working. The
bodies, which carry the link, stay sealed until sent and are erased once the mail is done, with the
typed text.
"""

import logging

from flask_babel import lazy_gettext as _l

from ..outbox import kinds, status
from ..outbox.claim import LeaseLost
from ..outbox.enqueue import enqueue_mail, new_message_id, seal_body
from ..outbox.recipients import stored_recipients
from ..store import secretbox
from ..store.db import db, insert_row
from ..store.models import OutboxMessage, ResetToken, User, utcnow
from . import mails
from .tokens import token_problem

# In the outbox's logger tree, so the worker's output shows it (see cli.worker).
log = logging.getLogger("exastro_mail.outbox.password_reset")


def enqueue_reset_request(
    organization, identifier: str, *, send_from: str, locale: str | None = None
) -> None:
    """Queue a forgot-password request as typed (sealed), for the worker to resolve to accounts and mails.

    The same work whatever was typed: no account is looked up here, so the time taken tells nothing.
    Call it inside the caller's db.atomic().
    """
    insert_row(
        OutboxMessage,
        organization=organization,
        kind=PASSWORD_RESET.name,
        recipients=stored_recipients(),  # not known until the worker looks the account up
        subject="",
        message_id=new_message_id(organization, send_from),
        status=status.QUEUED,
        next_attempt_at=utcnow(),
        priority=kinds.PRIORITY_WAITING,  # claimed ahead of notifications: someone waits at the screen
        reset_request=secretbox.seal(identifier),
        locale=locale,  # of the page it was asked on: the mail's language if the account has none saved
    )


def resolve_reset_request(claim, message, settings) -> bool:
    """Turn a forgot-password request into the mails it asks for: the row becomes the first account's
    mail, another account's (several may share an address) is queued beside it. False: nothing to send."""
    organization = message.organization
    try:
        identifier = secretbox.unseal(message.reset_request)
    except secretbox.SecretUnreadable:
        reason = "the request cannot be decrypted with EXASTRO_MAIL_ENCRYPTION_KEY; ask again"
        claim.fail(message, reason, permanent=True)
        return False
    # Templates are rendered outside the transaction.
    written = mails.write_reset_mails(organization, identifier, settings, asked=message.locale)
    try:
        with db.atomic():
            issued = mails.issue_reset_mails(organization, written, now=utcnow())
            if not issued:
                claim.drop(message)
                return False
            (first, first_token), *others = issued
            for mail, token_row in others:
                enqueue_mail(
                    organization,
                    PASSWORD_RESET.name,
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


def _prepare(claim, message, settings) -> bool:
    if message.reset_request is not None:
        # Resolved now: its link was made a moment ago, and works (asked again, it would be read back).
        return resolve_reset_request(claim, message, settings)
    problem = _link_problem(message)
    if problem:
        claim.expired(message, f"not sent: {problem}")
        return False
    return True


def _link_problem(message) -> str | None:
    token = (
        ResetToken.select(ResetToken, User).join(User).where(ResetToken.id == message.reset_token_id).first()
        if message.reset_token_id is not None
        else None
    )
    if token is None:
        return "the reset link no longer exists"
    return token_problem(token, token.user, utcnow())


def _finish(message, outcome: str) -> dict:
    return {"reset_request": None}  # what was typed is not kept once its request is done


PASSWORD_RESET = kinds.register(
    kinds.MailKind(
        "password_reset",
        _l("Password reset"),
        retryable=False,  # its link may be dead by then, and the user can simply ask again
        secret_bodies=True,
        columns=("reset_token",),
        priority=kinds.PRIORITY_WAITING,
        prepare=_prepare,
        finish=_finish,
    )
)
PASSWORD_CHANGED = kinds.register(kinds.MailKind("password_changed", _l("Password changed"), retryable=True))
