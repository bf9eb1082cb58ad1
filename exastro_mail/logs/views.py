"""Delivery log and audit log of an organization."""

from flask import Blueprint, abort, flash, g, redirect, request, url_for
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from ..auth.access import admin_required
from ..auth.orgs import scope_to_organization
from ..web.forms import PostOnlyForm
from ..web.htmx import asks_for, page_or_fragment
from .audit_trail import audit_page
from .delivery import STATUS_LABELS, STATUSES, delivery_page, discard_message, find_message, retry_message
from .paging import page_number

bp = Blueprint("logs", __name__, url_prefix="/<org_id>/platform")
scope_to_organization(bp)

# operation in the URL: (what it does, what to say when done, what to say when the mail's state forbids it)
OPERATIONS = {
    "retry": (
        retry_message,
        _l("The mail is queued to be sent now."),
        _l("This mail can no longer be retried."),
    ),
    "discard": (
        discard_message,
        _l("The mail was discarded; it will not be sent."),
        _l("This mail can no longer be discarded."),
    ),
}


def _status_filter(value: str | None) -> str | None:
    return value if value in STATUSES else None


def _mail_log_response(status_filter, number, notice=None, status=200):
    """The delivery log as a page, or only its table when htmx asks for #mail-log."""
    return page_or_fragment(
        "mail-log",
        "logs/mail_log.html",
        "logs/_mail_log.html",
        status=status,
        page=delivery_page(g.org, status_filter, number),
        status_filter=status_filter,
        statuses=STATUSES,
        status_labels=STATUS_LABELS,
        form=PostOnlyForm(),
        notice=notice,
    )


@bp.get("/mail-log")
@admin_required
def mail_log():
    status_filter = _status_filter(request.args.get("status"))
    return _mail_log_response(status_filter, page_number(request.args.get("page")))


@bp.post("/mail-log/<id:message_id>/<any(retry, discard):operation>")
@admin_required
def operate(message_id, operation):
    """Retry now or discard a queued or failed mail; htmx gets the refreshed table, others a redirect."""
    message = find_message(g.org, message_id)
    if message is None:
        abort(404)
    form = PostOnlyForm()
    if not form.validate_on_submit():
        abort(400)
    action, done_text, refused_text = OPERATIONS[operation]
    done = action(message, current_user.username)
    notice = (str(done_text if done else refused_text), "success" if done else "warning")
    status_filter = _status_filter(request.form.get("status"))
    number = page_number(request.form.get("page"))
    if asks_for("mail-log"):
        return _mail_log_response(status_filter, number, notice=notice)
    flash(*notice)
    return redirect(url_for(".mail_log", status=status_filter, page=number), code=303)


@bp.get("/audit-log")
@admin_required
def audit_log():
    return page_or_fragment(
        "audit-log",
        "logs/audit_log.html",
        "logs/_audit_log.html",
        page=audit_page(g.org, page_number(request.args.get("page"))),
    )
