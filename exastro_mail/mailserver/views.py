"""The Mail sending server settings page, its Send test mail and its delete dialog."""


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
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user

from ..auth.access import admin_required
from ..auth.orgs import scope_to_organization
from ..web.forms import field_problems
from ..web.htmx import page_or_fragment, redirect_page
from . import test_mail_views
from .endpoint import host_policy
from .fields import ADDRESS, FIELDS, HOST
from .forms import DeleteForm, MailServerForm, confirmation_word
from .host_names import unicode_form
from .page import render_settings
from .ports import port_warning
from .rules import field_problem
from .sections import CHECKED_INLINE, marker
from .step_details import shown_step_detail
from .store import delete_settings, save_settings, settings_for
from .testmail import shown_test_detail

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
        return render_settings(
            form, stored, warning=checked.warnings.get("smtp_port"), warnings=checked.warnings, status=422
        )
    if stored:
        form.fill_from(stored)
    return render_settings(form, stored, warning=warning, idn_hints=_show_unicode(form))


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


# Send test mail (test_mail_views.py): the POST, the page of one run, and the last run's (as once linked).
bp.add_url_rule("/test-mail", "test_mail", admin_required(test_mail_views.start), methods=["POST"])
bp.add_url_rule("/test-mail/<run_id>", "test_mail_run", admin_required(test_mail_views.run_page))
bp.add_url_rule("/test-mail", "test_mail_result", admin_required(test_mail_views.last_run))


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
