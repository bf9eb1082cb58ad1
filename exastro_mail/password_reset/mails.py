"""The mails of a password reset: whom a typed name reaches, the mail and link each account gets (within
RESET_LIMIT_PER_ACCOUNT), and the notice once the password was changed. Nothing here queues a mail."""

import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app, render_template
from flask_babel import force_locale, ngettext
from flask_babel import gettext as _
from limits import parse
from peewee import fn

from ..i18n import local_datetime
from ..i18n.choice import locale_for_mail, page_locale
from ..store import audit
from ..store.db import is_sqlite
from ..store.models import MailServerSettings, Organization, ResetToken, User
from . import tokens

_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def ascii_lower(text: str) -> str:
    """Lowercase A-Z only: 'MIKE' matches 'mike', while look-alikes such as 'mıke' stay different."""
    return text.translate(_ASCII_LOWER)


def accounts_matching(organization, identifier: str) -> list[User]:
    """Enabled users of the organization with this exact username, or else this email address.

    Addresses compare exactly except for ASCII letter case: no Unicode case folding or compatibility
    mapping, so a look-alike never reaches another person's mailbox.
    """
    identifier = unicodedata.normalize("NFC", identifier.strip())
    if not identifier:
        return []
    # One query whatever was typed. LOWER only narrows the candidates (engines disagree on
    # non-ASCII case); Python decides.
    candidates = list(
        User.select().where(
            User.organization == organization,
            (User.username == identifier) | (fn.LOWER(User.email) == fn.LOWER(identifier)),
        )
    )
    by_name = [user for user in candidates if user.username == identifier]
    if by_name:
        return [user for user in by_name if user.is_enabled]
    wanted = ascii_lower(identifier)
    return [user for user in candidates if user.is_enabled and ascii_lower(user.email) == wanted]


@dataclass(frozen=True)
class ResetMail:
    """A reset mail written for one account, with the token its link carries (not yet stored)."""

    user: User
    token: str
    subject: str
    body_text: str
    body_html: str


def write_reset_mails(
    organization: Organization, identifier: str, settings: MailServerSettings, *, asked: str | None = None
) -> list[ResetMail]:
    """A reset mail with a fresh token for each enabled account the typed text names (in the account's
    language, else asked: the request page's), to be sent through settings; writes nothing."""
    mails = []
    for user in accounts_matching(organization, identifier):
        token = tokens.new_token()
        mails.append(ResetMail(user, token, *_reset_mail(organization, settings, user, token, asked)))
    return mails


def issue_reset_mails(
    organization: Organization, mails: list[ResetMail], *, now: datetime
) -> list[tuple[ResetMail, ResetToken]]:
    """Store the token of each mail whose account is within RESET_LIMIT_PER_ACCOUNT and audit every
    outcome; returns the mails to send with their stored tokens. Call it inside a transaction."""
    if not mails:
        # The typed text is not kept: it may be a mistyped password, or someone probing for names.
        audit.record(organization, "password_reset.resolved", account="unknown")
        return []
    config = current_app.config
    limit = parse(config["RESET_LIMIT_PER_ACCOUNT"])
    since = now - timedelta(seconds=limit.get_expiry())
    issued = []
    for mail in mails:
        allowed = _tokens_issued_since(mail.user, since) < limit.amount
        if allowed:
            row = tokens.issue(mail.user, mail.token, now=now, ttl_seconds=config["PASSWORD_RESET_TTL"])
            issued.append((mail, row))
        audit.record(
            organization,
            "password_reset.resolved",
            user=mail.user.username,
            mail="queued" if allowed else "not sent: rate limit",
        )
    return issued


def _tokens_issued_since(user: User, since: datetime) -> int:
    """How many reset links the user was given since then, counted with the user's row locked: workers
    resolving requests for one account at the same moment count one after the other."""
    if not is_sqlite():  # on SQLite the IMMEDIATE transaction already shuts out every other writer
        list(User.select(User.id).where(User.id == user.id).for_update())
    return ResetToken.select().where(ResetToken.user == user, ResetToken.created_at > since).count()


def reset_link(organization, token: str) -> str:
    """The link a reset mail carries, on EXASTRO_MAIL_BASE_URL (never the request's host)."""
    return f"{current_app.config['BASE_URL']}/{organization.org_id}/reset-password/{token}"


def _context(organization, settings: MailServerSettings | None, user: User, **more) -> dict:
    """What every mail of the reset shows: the organization, the account, and where replies go."""
    return {"organization": organization, "user": user, "reply_to": settings and settings.reply_to, **more}


# Mails are written in the recipient's language (their saved choice, else the page's, else the default).
def _reset_mail(organization, settings, user: User, token: str, asked: str | None) -> tuple[str, str, str]:
    with force_locale(locale_for_mail(user, asked)):
        context = _context(
            organization,
            settings,
            user,
            link=reset_link(organization, token),
            valid_for=duration_words(current_app.config["PASSWORD_RESET_TTL"]),
        )
        return (
            _("Reset your password for %(organization)s", organization=organization.name),
            render_template("mail/password_reset.txt", **context),
            render_template("mail/password_reset.html", **context),
        )


def changed_mail(organization, user: User, now: datetime, *, via: str = "reset") -> tuple[str, str, str]:
    """The notice that a user's password was changed at now, via "reset" (a link) or "account" (the
    account page, logged in): (subject, text, html)."""
    base_url = current_app.config.get("BASE_URL")
    settings = MailServerSettings.get_or_none(MailServerSettings.organization == organization)
    with force_locale(locale_for_mail(user, page_locale())):
        context = _context(
            organization,
            settings,
            user,
            via=via,
            # In the time zone of the account, else of the browser that set the password.
            changed_at=local_datetime(now),
            login_link=f"{base_url}/{organization.org_id}/login" if base_url else None,
        )
        return (
            _("Your password for %(organization)s was changed", organization=organization.name),
            render_template("mail/password_changed.txt", **context),
            render_template("mail/password_changed.html", **context),
        )


def duration_words(seconds: int) -> str:
    """A lifetime in words, in the current language: "30 minutes", "1 hour", "90 seconds"."""
    seconds = int(seconds)
    if seconds >= 3600 and seconds % 3600 == 0:
        return ngettext("%(num)d hour", "%(num)d hours", seconds // 3600)
    if seconds >= 60 and seconds % 60 == 0:
        return ngettext("%(num)d minute", "%(num)d minutes", seconds // 60)
    return ngettext("%(num)d second", "%(num)d seconds", seconds)
