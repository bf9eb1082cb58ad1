"""The language selector every page carries: a POST that remembers the choice and goes back."""

from flask import Blueprint, abort, current_app, redirect
from flask_login import current_user
from wtforms import HiddenField, RadioField
from wtforms.fields.choices import SelectChoice

from ..store.models import User
from ..web.forms import Form
from ..web.redirects import safe_next
from .choice import COOKIE_MAX_AGE, LANGUAGES, LOCALE_COOKIE

bp = Blueprint("i18n", __name__)


class LanguageForm(Form):
    locale = RadioField(choices=[SelectChoice(code, name) for code, name in LANGUAGES.items()])
    next = HiddenField()


def save_locale(user_id: int, locale: str) -> None:
    """Remember a user's language, for their other browsers and for the mail they are sent."""
    User.update(locale=locale).where(User.id == user_id).execute()


@bp.post("/language")
def choose():
    form = LanguageForm()
    if not form.validate_on_submit():
        abort(400)
    response = redirect(safe_next(form.next.data) or "/", code=303)
    remember_locale(response, form.locale.data)
    if current_user.is_authenticated:
        save_locale(current_user.user.id, form.locale.data)
    return response


def remember_locale(response, locale: str) -> None:
    """Make this browser show pages in a language from now on (its choice comes before the account's)."""
    response.set_cookie(
        LOCALE_COOKIE,
        locale,
        max_age=COOKIE_MAX_AGE,
        httponly=True,
        samesite="Lax",
        secure=current_app.config.get("SESSION_COOKIE_SECURE", False),
    )
