"""The Mail sending server settings page, its Send test mail and its delete dialog."""

import math

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    g,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import get_locale, ngettext
from flask_babel import gettext as _
from flask_login import current_user
from werkzeug.exceptions import TooManyRequests

from ..auth.access import admin_required
from ..auth.orgs import scope_to_organization
from ..store.secretbox import SecretUnreadable
from ..web.forms import field_problems
from ..web.htmx import asks_for, page_or_fragment, redirect_page, vary_on_target
from ..web.rate_limits import TEST_MAIL_PER_ADMIN, TEST_MAIL_PER_ORGANIZATION
from .certificates import describe_certificates
from .credentials import stored_hints, unencrypted_auth_warning
from .endpoint import host_policy
from .fields import ADDRESS, FIELDS, HOST, stored_values
from .forms import DeleteForm, MailServerForm, confirmation_word
from .host_names import unicode_form
from .last_test import recall, remember
from .ports import DEFAULT_PORTS, port_warning
from .rules import check_address, field_problem
from .sections import CHECKED_INLINE, marker
from .step_details import shown_step_detail
from .store import delete_settings, save_settings, settings_for
from .testmail import SmtpOptions, send_test_mail, shown_test_detail

bp = Blueprint("mailserver", __name__, url_prefix="/<org_id>/platform/settings/mailserver")
scope_to_organization(bp)
bp.add_app_template_filter(shown_test_detail, "test_detail")
bp.add_app_template_filter(shown_step_detail, "step_detail")
bp.add_app_template_filter(marker, "field_marker")
bp.add_app_template_filter(field_problems, "field_problems")


def _show_unicode(form) -> dict:
    """Show stored internationalized names in Unicode; the hints give their punycode beside them."""
    hints = {}
    for name, declared in FIELDS.items():
        if declared.kind in (HOST, ADDRESS) and isinstance(form[name].data, str):
            shown = unicode_form(form[name].data)
            if shown:
                hints[name] = _("Stored as %(punycode)s (punycode).", punycode=form[name].data)
                form[name].data = shown
    return hints


def _render_settings(
    form,
    stored,
    *,
    warning=None,
    warnings=None,
    test_outcome=None,
    test_problems=None,
    test_limited=None,
    idn_hints=None,
    status=200,
):
    if not form.test_recipient.data:
        form.test_recipient.data = current_user.email
    if warnings is None:
        warnings = {"encryption": unencrypted_auth_warning(stored_values(stored))} if stored else {}
    return (
        render_template(
            "mailserver/settings.html",
            form=form,
            stored=stored,
            stored_warning=warning,
            field_warnings=warnings,
            stored_hints=stored_hints(stored),
            default_ports=DEFAULT_PORTS,
            trusted_certificates=describe_certificates(stored.trusted_ca_pem if stored else None),
            test_outcome=test_outcome,
            test_problems=test_problems,
            test_limited=test_limited,
            idn_hints=idn_hints or {},
            checked_inline=CHECKED_INLINE,
        ),
        status,
    )


@bp.route("", methods=["GET", "POST"])
@admin_required
def settings():
    stored = settings_for(g.org)
    form = MailServerForm()
    warning = port_warning(stored.smtp_port, stored.encryption) if stored and stored.smtp_port else None
    if request.method == "POST":
        checked = form.check(stored=stored, host_policy=host_policy(current_app.config))
        if checked.ok:
            save_settings(g.org, checked.values, current_user.username)
            flash(_("Registered SMTP server settings for email sending"), "success")
            return redirect(url_for(".settings"), code=303)
        return _render_settings(
            form, stored, warning=checked.warnings.get("smtp_port"), warnings=checked.warnings, status=422
        )
    if stored:
        form.fill_from(stored)
    return _render_settings(form, stored, warning=warning, idn_hints=_show_unicode(form))


@bp.get("/check/<name>")
@admin_required
def check_field(name):
    """One field checked on its own when it loses focus (htmx); answers its row, marked or clean."""
    if name not in CHECKED_INLINE:
        abort(404)
    form = MailServerForm(formdata=request.args, meta={"csrf": False})
    problem = field_problem(name, request.args.get(name))
    form[name].errors = [problem] if problem else []
    response = make_response(
        render_template(
            "mailserver/_field.html",
            declared=FIELDS[name],
            form=form,
            stored=None,
            stored_hints={},
            field_warnings={},
            stored_warning=None,
            idn_hints={},
            checked_inline=CHECKED_INLINE,
        )
    )
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/test-mail")
@admin_required
def test_mail_result():
    """The page after Send test mail without JavaScript: the last result again, nothing sent."""
    remembered = recall(g.org)
    if remembered is None:
        return redirect(url_for(".settings"), code=303)
    outcome, values = remembered
    form = MailServerForm()
    for name, value in values.items():
        form[name].data = value
    return _render_settings(form, settings_for(g.org), test_outcome=outcome)


@bp.post("/test-mail")
@admin_required
def test_mail():
    """Send a test mail with the values in the form: a fragment for htmx; without JavaScript, a
    redirect to the result (or the page with the fields to correct)."""
    stored = settings_for(g.org)
    form = MailServerForm()
    checked = form.check(stored=stored, host_policy=host_policy(current_app.config))
    try:
        recipient = check_address(form.test_recipient.data, True)
    except ValueError as problem:
        form.test_recipient.errors = [str(problem)]
    outcome = refused = None
    if checked.ok and not form.test_recipient.errors:
        refused = _over_test_mail_limit()
        if refused is None:
            outcome = _send_test_mail(form, checked.values, recipient)
    status = 429 if refused else 200 if outcome else 422
    shown = {
        "test_outcome": outcome,
        "test_problems": field_problems(form),
        "test_limited": _limited_message(refused) if refused else None,
    }
    if asks_for("test-mail-result"):
        status_changed = outcome is not None and outcome.status_updated
        updated = settings_for(g.org) if status_changed else None
        response = make_response(
            render_template(
                "mailserver/_test_result.html",
                updated_status=updated,
                recipient_row=form.test_recipient,
                **shown,
            ),
            status,
        )
    elif outcome is not None:
        remember(g.org, outcome, form)
        return redirect(url_for(".test_mail_result"), code=303)
    else:
        warnings = checked.warnings
        response = make_response(
            _render_settings(
                form,
                settings_for(g.org),
                warning=warnings.get("smtp_port"),
                warnings=warnings,
                status=status,
                **shown,
            )
        )
    if refused:
        response.headers["Retry-After"] = str(refused.retry_after)
    return vary_on_target(response)


def _send_test_mail(form, values, recipient):
    options = SmtpOptions.from_config(current_app.config)
    try:
        return send_test_mail(g.org, values, recipient, current_user.username, options)
    except SecretUnreadable as problem:
        form[getattr(problem, "field", "authentication_password")].errors = [str(problem)]
        return None


def _over_test_mail_limit() -> TooManyRequests | None:
    """Count this test mail for its admin and its organization; the refusal past either limit."""
    admin = f"{g.org.id}/{current_user.id}"
    for limit, subject in ((TEST_MAIL_PER_ADMIN, admin), (TEST_MAIL_PER_ORGANIZATION, str(g.org.id))):
        try:
            limit.hit(subject)
        except TooManyRequests as refused:
            return refused
    return None


def _limited_message(refused: TooManyRequests) -> str:
    minutes = max(1, math.ceil(int(refused.retry_after) / 60))
    return ngettext(
        "Too many test mails have been sent from this organization's settings. Try again in %(num)d minute.",
        "Too many test mails have been sent from this organization's settings. Try again in %(num)d minutes.",
        minutes,
    )


@bp.route("/delete", methods=["GET", "POST"])
@admin_required
def delete():
    if settings_for(g.org) is None:
        return redirect_page(url_for(".settings"))
    form = DeleteForm()
    locale = str(get_locale())
    error = None
    status = 200
    if request.method == "POST":
        if form.validate_on_submit() and form.confirmation.data == form.asked_word(locale):
            delete_settings(g.org, current_user.username)
            flash(_("The email sending server settings have been deleted."), "success")
            return redirect_page(url_for(".settings"))
        error = _("Type %(word)s exactly to delete the settings.", word=confirmation_word(locale))
        status = 422
    form.dialog_locale.data = locale
    return page_or_fragment(
        "delete-dialog",
        "mailserver/delete.html",
        "mailserver/_delete_dialog.html",
        status=status,
        form=form,
        error=error,
        word=confirmation_word(locale),
    )
