"""Delivery log and audit log of an organization."""

from flask import Blueprint, abort, current_app, flash, g, redirect, request, url_for
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from ..auth.access import admin_required
from ..auth.orgs import scope_to_organization
from ..web.forms import PostOnlyForm
from ..web.htmx import asks_for, page_or_fragment
from . import audit_trail, delivery, test_mails  # noqa: F401  # test_mails: test mails in the delivery log
from .addresses import breakable
from .delivery import STATUS_LABELS, STATUSES, discard_message, find_message, retry_message
from .filters import PAGE_SIZES
from .paging import Position
from .retention import retention_days

bp = Blueprint("logs", __name__, url_prefix="/<org_id>/platform")
scope_to_organization(bp)
bp.add_app_template_filter(breakable, "breakable")

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


def _mail_log_response(args, notice=None, status=200):
    """The delivery log as a page, or only its table when htmx asks for #mail-log."""
    filters, status_filter = delivery.read_filters(args)
    position = Position.from_args(args)
    return page_or_fragment(
        "mail-log",
        "logs/mail_log.html",
        "logs/_mail_log.html",
        status=status,
        page=delivery.delivery_page(g.org, filters, status_filter, position),
        filters=filters,
        position=position,
        status_filter=status_filter,
        statuses=STATUSES,
        status_labels=STATUS_LABELS,
        page_sizes=PAGE_SIZES,
        kept_days=retention_days(current_app.config, "DELIVERY"),
        form=PostOnlyForm(),
        notice=notice,
    )


@bp.get("/mail-log")
@admin_required
def mail_log():
    return _mail_log_response(request.args)


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
    # The form carries the page's filters and position, so the reader stays where they were.
    if asks_for("mail-log"):
        return _mail_log_response(request.form, notice=notice)
    flash(*notice)
    filters, _status = delivery.read_filters(request.form)
    position = Position.from_args(request.form)
    return redirect(url_for(".mail_log", **filters.link_args(position.args)), code=303)


@bp.get("/audit-log")
@admin_required
def audit_log():
    filters, audit = audit_trail.read_filters(request.args)
    position = Position.from_args(request.args)
    return page_or_fragment(
        "audit-log",
        "logs/audit_log.html",
        "logs/_audit_log.html",
        page=audit_trail.audit_page(g.org, filters, audit, position),
        filters=filters,
        position=position,
        actions=audit_trail.ACTION_LABELS,
        page_sizes=PAGE_SIZES,
        kept_days=retention_days(current_app.config, "AUDIT"),
    )
