"""The Mail sending server settings page and its delete dialog."""

from flask import Blueprint, flash, g, make_response, redirect, render_template, request, url_for
from flask_login import current_user

from ..auth.access import admin_required
from ..auth.orgs import scope_to_organization
from .forms import DeleteForm, MailServerForm
from .rules import DEFAULT_PORTS, port_warning
from .store import delete_settings, save_settings, settings_for

bp = Blueprint("mailserver", __name__, url_prefix="/<org_id>/platform/settings/mailserver")
scope_to_organization(bp)

CONFIRMATION_WORD = "Delete"
REGISTERED = "Mail sending server settings registered."
DELETED = "The mail sending server settings have been deleted."


def _htmx_redirect(endpoint: str):
    """Send htmx to a full page load (so flashed messages and the fresh page show), else 303."""
    target = url_for(endpoint)
    if request.headers.get("HX-Request") == "true":
        response = make_response("", 200)
        response.headers["HX-Redirect"] = target
        return response
    return redirect(target, code=303)


@bp.route("", methods=["GET", "POST"])
@admin_required
def settings():
    stored = settings_for(g.org)
    form = MailServerForm()
    status = 200
    warning = port_warning(stored.smtp_port, stored.encryption) if stored else None
    if request.method == "POST":
        has_password = bool(stored and stored.authentication_password_sealed)
        checked = form.check(password_stored=has_password)
        if checked.ok:
            save_settings(g.org, checked.values, current_user.username)
            flash(REGISTERED, "success")
            return redirect(url_for(".settings"), code=303)
        status = 422
        warning = checked.warnings.get("smtp_port")
    elif stored:
        form.fill_from(stored)
    return (
        render_template(
            "mailserver/settings.html",
            form=form,
            stored=stored,
            stored_warning=warning,
            default_ports=DEFAULT_PORTS,
        ),
        status,
    )


@bp.route("/delete", methods=["GET", "POST"])
@admin_required
def delete():
    if settings_for(g.org) is None:
        return _htmx_redirect(".settings")
    form = DeleteForm()
    error = None
    status = 200
    if request.method == "POST":
        if form.validate_on_submit() and form.confirmation.data == CONFIRMATION_WORD:
            delete_settings(g.org, current_user.username)
            flash(DELETED, "success")
            return _htmx_redirect(".settings")
        error = f"Type {CONFIRMATION_WORD} exactly to delete the settings."
        status = 422
    as_fragment = request.headers.get("HX-Target") == "delete-dialog"
    template = "mailserver/_delete_dialog.html" if as_fragment else "mailserver/delete.html"
    response = make_response(
        render_template(template, form=form, error=error, word=CONFIRMATION_WORD), status
    )
    response.vary.add("HX-Target")
    return response
