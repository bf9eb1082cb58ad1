"""The Account page of every user: change the password, choose language and time zone."""

from flask import Blueprint, flash, g, make_response, redirect, render_template, request, url_for
from flask_babel import force_locale, get_locale
from flask_babel import gettext as _
from flask_login import current_user

from ..auth.access import member_required
from ..auth.orgs import scope_to_organization
from ..auth.passwords import MIN_PASSWORD_LENGTH, verify_password
from ..i18n.choice import TIMEZONE_COOKIE, choose_timezone
from ..i18n.views import remember_locale
from ..web import rate_limits
from ..web.redirects import safe_next
from .changes import change_password, save_preferences
from .forms import ChangePasswordForm, PreferencesForm

bp = Blueprint("account", __name__, url_prefix="/<org_id>/platform/account")
scope_to_organization(bp)


def _preferences_form(from_request: bool = False) -> PreferencesForm:
    user = current_user.user
    saved = {"locale": user.locale or str(get_locale()), "time_zone": user.time_zone or ""}
    form = PreferencesForm(data=saved) if from_request else PreferencesForm(formdata=None, data=saved)
    return form.fill_time_zones(choose_timezone(request.cookies.get(TIMEZONE_COOKIE)))


def _page(template: str, *, password_form=None, preferences_form=None, status=200):
    response = make_response(
        render_template(
            template,
            password_form=password_form or ChangePasswordForm(formdata=None),
            preferences_form=preferences_form or _preferences_form(),
            forced=current_user.must_change_password,
            min_length=MIN_PASSWORD_LENGTH,
        ),
        status,
    )
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("")
@member_required
def index():
    return _page("account/index.html")


@bp.route("/password", methods=["GET", "POST"])
@member_required
def password():
    if request.method != "POST":
        form = ChangePasswordForm(formdata=None, next=request.args.get("next", ""))
        return _page("account/password.html", password_form=form)
    # The form was on the forced-change page, or on the account page.
    forced = current_user.must_change_password
    template = "account/password.html" if forced else "account/index.html"
    rate_limits.LOGIN.refuse_if_over()  # a left-open session must not become a password guesser
    form = ChangePasswordForm()
    user = current_user.user
    valid = form.check(user.username)
    if not form.check_current(lambda typed: verify_password(user.password_hash, typed)):
        if form.current_password.errors and form.current_password.data:
            rate_limits.LOGIN.count()
        valid = False
    if not valid:
        return _page(template, password_form=form, status=422)
    change_password(g.org, user, form.password.data)
    flash(_("Your password has been changed. Every other login of your account has ended."), "success")
    # A forced change was the first login's detour: it goes on where a login goes.
    onward = safe_next(form.next.data) or url_for("platform.index" if forced else ".index")
    return redirect(onward, code=303)


@bp.post("/preferences")
@member_required
def preferences():
    form = _preferences_form(from_request=True)
    if not form.check():
        return _page("account/index.html", preferences_form=form, status=422)
    save_preferences(current_user.user, form.locale.data, form.time_zone.data)
    with force_locale(form.locale.data):  # the next page is in the new language: so is this message
        flash(_("Your language and time zone have been saved."), "success")
    response = redirect(url_for(".index"), code=303)
    remember_locale(response, form.locale.data)
    return response
