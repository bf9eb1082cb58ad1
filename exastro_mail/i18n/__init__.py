"""English and Japanese: Flask-Babel bound to the app, the language selector, and local times."""

from urllib.parse import urlsplit

from flask import request
from flask_babel import format_datetime, get_locale
from markupsafe import Markup

from ..config import ConfigError
from ..extensions import babel
from .choice import LANGUAGES, locale_for_request, timezone_for_request


def N_(message: str) -> str:
    """Mark a message for the catalog without translating it: it is kept (stored, logged) in English
    and translated where it is shown, with _(message)."""
    return message


def local_datetime(value) -> str:
    """A stored UTC time in the reader's language and time zone, with the zone: 2026/11/25 2:05:03 JST."""
    return f"{format_datetime(value, 'medium')} {format_datetime(value, 'z')}"


def local_time(value) -> Markup:
    """The one way pages show a stored UTC time: a <time> element, exact in its attribute, in words in
    the reader's language and time zone (the account's, else the browser's, else UTC)."""
    if not value:
        return Markup('<span class="none">—</span>')
    exact = value.strftime("%Y-%m-%dT%H:%M:%SZ")
    return Markup('<time datetime="{}">{}</time>').format(exact, local_datetime(value))


def _return_path() -> str:
    # After switching language, come back here: this address when it can be opened with GET (a form
    # that answered its own POST with errors included), else the page the form was on.
    if request.method == "GET" or (request.url_rule and "GET" in request.url_rule.methods):
        return request.full_path.rstrip("?")
    referrer = urlsplit(request.referrer or "")
    if referrer.netloc != request.host:
        return ""
    return f"{referrer.path}?{referrer.query}" if referrer.query else referrer.path


def init_app(app) -> None:
    """Bind Flask-Babel with this app's language and time zone selectors; add the selector's route."""
    if app.config["DEFAULT_LOCALE"] not in LANGUAGES:
        raise ConfigError(
            f"EXASTRO_MAIL_DEFAULT_LOCALE must be one of {', '.join(LANGUAGES)}, "
            f"not {app.config['DEFAULT_LOCALE']!r}."
        )
    babel.init_app(
        app,
        default_locale=app.config["DEFAULT_LOCALE"],
        locale_selector=locale_for_request,
        timezone_selector=timezone_for_request,
    )
    app.jinja_env.filters["local_datetime"] = local_datetime
    app.jinja_env.filters["local_time"] = local_time

    @app.context_processor
    def _languages():
        return {"languages": LANGUAGES, "current_locale": str(get_locale()), "return_path": _return_path}

    from .views import bp

    app.register_blueprint(bp)
