"""Which language and time zone a request is shown in: plain rules, and the selectors Flask-Babel calls."""

import functools
import zoneinfo

from babel.dates import get_timezone
from flask import current_app, has_request_context, request
from flask_login import current_user

from ..web.login_state import has_login

# Each language is named in itself, so anyone can find their own.
LANGUAGES = {"en": "English", "ja": "日本語"}
LOCALE_COOKIE = "locale"
LANGUAGE_HEADER = "Language"  # Exastro's: ja or en, on the API only
TIMEZONE_COOKIE = "timezone"  # written by static/js/app.js from the browser's own time zone
COOKIE_MAX_AGE = 365 * 24 * 3600


def choose_locale(chosen: str | None, saved: str | None, accepted, default: str) -> str:
    """The language: the one chosen in this browser, else the user's saved choice, else the best of
    the browser's Accept-Language (a werkzeug LanguageAccept), else the install default."""
    for candidate in (chosen, saved):
        if candidate in LANGUAGES:
            return candidate
    return accepted.best_match(LANGUAGES) or default


def choose_timezone(value: str | None) -> str | None:
    """A time zone name the browser reported, if it is a real one (else None: the default, UTC)."""
    if not value or len(value) > 64:
        return None
    try:
        get_timezone(value)
    except LookupError:
        return None
    return value


def locale_for_mail(user, asked: str | None = None) -> str:
    """The language of a mail to a user: their saved choice, else the language of the page it was asked
    for on (a forgot-password request in Japanese gets a Japanese link), else the install default."""
    for locale in (getattr(user, "locale", None), asked):
        if locale in LANGUAGES:
            return locale
    return current_app.config["DEFAULT_LOCALE"]


def page_locale() -> str | None:
    """The language the current page is shown in; None outside a request."""
    from flask_babel import get_locale

    return str(get_locale()) if has_request_context() else None


def exastro_language(value: str | None) -> str | None:
    """The language Exastro's `Language` header asks for: ja (also ja-JP), else en; None when not sent.

    Exastro's clients send it (its gateway sets it from the user's locale); Exastro answers Japanese
    for ja and English for anything else.
    """
    value = (value or "").strip().lower()
    if not value:
        return None
    return "ja" if value.split("-")[0] == "ja" else "en"


def locale_for_request() -> str | None:
    """Flask-Babel's locale selector. The JSON API takes no cookies: it goes by Exastro's Language
    header, else by Accept-Language, else the install default."""
    if not has_request_context():
        return None  # a worker or the CLI: the default, unless the caller forces a locale
    if request.path.startswith("/api/"):
        asked = exastro_language(request.headers.get(LANGUAGE_HEADER))
        if asked:
            return asked
        chosen = saved = None
    else:
        chosen = request.cookies.get(LOCALE_COOKIE)
        saved = current_user.locale if has_login() and current_user.is_authenticated else None
    return choose_locale(chosen, saved, request.accept_languages, current_app.config["DEFAULT_LOCALE"])


def timezone_for_request() -> str | None:
    """Flask-Babel's time zone selector: the account's own choice, else the browser's (its cookie)."""
    if not has_request_context():
        return None
    saved = current_user.time_zone if has_login() and current_user.is_authenticated else None
    return choose_timezone(saved) or choose_timezone(request.cookies.get(TIMEZONE_COOKIE))


_AREAS = frozenset(
    {"Africa", "America", "Antarctica", "Arctic", "Asia", "Atlantic", "Australia", "Europe"}
    | {"Indian", "Pacific"}
)


@functools.cache
def time_zone_names() -> tuple[str, ...]:
    """The time zones an account can choose: UTC and the IANA Area/Location names (no legacy aliases
    such as US/Eastern or Etc/GMT+9), from the system's time zone database."""
    names = {name for name in zoneinfo.available_timezones() if name.split("/", 1)[0] in _AREAS}
    return ("UTC", *sorted(names))
