"""Login and logout pages of an organization."""

from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from ..store import audit
from ..store.db import db
from ..store.models import User
from ..web import rate_limits
from ..web.forms import PostOnlyForm
from ..web.page_cache import render_anonymous_page
from ..web.redirects import safe_next
from .first_login import change_password_url
from .forms import LoginForm
from .orgs import scope_to_organization
from .passwords import verify_password
from .sessions import end_session, start_session

bp = Blueprint("auth", __name__, url_prefix="/<org_id>")
scope_to_organization(bp)


@bp.route("/login", methods=["GET", "POST"])
def login():
    forgot_password = g.org.mail_from is not None  # the organization has mail sending server settings
    if request.method != "POST":
        return render_anonymous_page(
            "auth/login.html",
            lambda: LoginForm(next=request.args.get("next", "")),
            error=None,
            forgot_password=forgot_password,
        )
    rate_limits.LOGIN.hit()
    form = LoginForm()
    error = None
    status = 200
    if form.validate_on_submit():
        username = form.username.data.strip()
        user = User.get_or_none(User.organization == g.org, User.username == username)
        usable = user is not None and user.is_enabled
        if verify_password(user.password_hash if usable else None, form.password.data):
            with db.atomic():
                start_session(user)
                audit.record(g.org, "login", actor=user.username)
            if user.must_change_password:
                return redirect(change_password_url(safe_next(form.next.data)), code=303)
            return redirect(safe_next(form.next.data) or url_for("platform.index"))
        audit.record(g.org, "login_failed", actor=username[:255])
        error = _("The username or password is incorrect.")
    else:
        status = 422
    return (
        render_template("auth/login.html", form=form, error=error, forgot_password=forgot_password),
        status,
    )


@bp.post("/logout")
def logout():
    form = PostOnlyForm()
    if form.validate_on_submit() and current_user.is_authenticated:
        end_session(current_user)
        flash(_("You have logged out."), "success")
    return redirect(url_for("auth.login"), code=303)
