"""The forgot-password page, and the reset link with its new-password page."""

from flask import (
    Blueprint,
    current_app,
    flash,
    g,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user
from flask_wtf.csrf import CSRFError

from .. import password_reset
from ..auth.orgs import scope_to_organization
from ..auth.passwords import MIN_PASSWORD_LENGTH
from ..auth.sessions import end_session
from ..extensions import csrf
from ..i18n.choice import page_locale
from ..store.db import db
from ..store.models import utcnow
from ..web import rate_limits
from ..web.page_cache import render_anonymous_page
from . import flow, tokens
from .forms import ForgotPasswordForm, NewPasswordForm

bp = Blueprint("password_reset", __name__, url_prefix="/<org_id>")
scope_to_organization(bp)

SESSION_KEY = "password_reset"


@bp.route("/forgot-password", methods=["GET", "POST"])
def forgot():
    if g.org.mail_from is None:  # no mail sending server settings (deleted, or never registered)
        return render_template("password_reset/not_configured.html"), 404
    if not password_reset.available(current_app):
        return render_template("password_reset/unavailable.html")
    if request.method != "POST":
        return render_anonymous_page("password_reset/forgot.html", ForgotPasswordForm)
    form = ForgotPasswordForm()
    # One transaction counts the request and queues it: on SQLite the write lock is taken once, not
    # twice, and a request that finds it taken sleeps once. A refusal undoes its own count only.
    with db.atomic():
        rate_limits.FORGOT_PASSWORD.hit()
        asked = form.validate_on_submit()
        if asked:
            flow.request_reset(g.org, form.identifier.data, send_from=g.org.mail_from, locale=page_locale())
    if asked:
        return render_anonymous_page("password_reset/sent.html", answer=str(flow.ANSWER))
    return render_template("password_reset/forgot.html", form=form), 422


@bp.get("/reset-password/<token>")
def reset_link(token):
    row = tokens.find(g.org, token)
    if row is None or tokens.token_problem(row, row.user, utcnow()) is not None:
        return _invalid()
    # The token leaves the address bar (and history) at once; the session carries its hash.
    session[SESSION_KEY] = {"org": g.org.org_id, "token_hash": row.token_hash}
    return _private(redirect(url_for(".reset"), code=303))


# Exempt from CSRFProtect only because its HTTPS Referer check cannot pass under no-referrer; the
# form still requires its session-bound CSRF token (checked in NewPasswordForm.validate).
@bp.route("/reset-password", methods=["GET", "POST"])
@csrf.exempt
def reset():
    pending = session.get(SESSION_KEY) or {}
    if pending.get("org") != g.org.org_id:
        return _invalid()  # a link held for another organization stays held
    row = flow.usable_token(g.org, pending.get("token_hash", ""))
    if row is None:
        session.pop(SESSION_KEY, None)
        return _invalid()
    form = NewPasswordForm()
    if request.method == "POST":
        if form.check(row.user.username):
            try:
                flow.complete_reset(g.org, row.token_hash, form.password.data)
            except flow.ResetLinkInvalid:
                session.pop(SESSION_KEY, None)
                return _invalid()
            session.pop(SESSION_KEY, None)
            if current_user.is_authenticated:
                end_session(current_user)  # whoever was logged in here, the new password is not a login
            flash(_("Your password has been changed. Log in with your new password."), "success")
            return _private(redirect(url_for("auth.login"), code=303))
        csrf_field = getattr(form, "csrf_token", None)
        if csrf_field is not None and csrf_field.errors:
            raise CSRFError(csrf_field.errors[0])
    status = 422 if request.method == "POST" else 200
    return _private(
        make_response(
            render_template(
                "password_reset/reset.html", form=form, user=row.user, min_length=MIN_PASSWORD_LENGTH
            ),
            status,
        )
    )


def _invalid():
    return _private(make_response(render_template("password_reset/invalid.html"), 404))


def _private(response):
    """Headers of every reset-link response: no Referer leaves the page, nothing is cached."""
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Cache-Control"] = "no-store"
    return response
