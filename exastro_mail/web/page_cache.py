"""Pages that every anonymous visitor of an organization gets alike: the login and forgot-password forms,
and the answer to a forgot-password request.

They are the pages end users hit most, and rendering them (Jinja, WTForms widgets, a gettext per
string) is half of what each one costs. They are rendered once per organization, language and what
the view passes (whether the login page links to Forgot password), and each answer gets only its own
CSRF token. The key is read afresh on every request (the organization row, the language), so a
rename, deleted settings or another language show at once, on every instance.

A request with anything of its own is rendered as usual: a query string (?next=...), messages
flashed for it, a logged-in session. Views call this only for a page that depends on nothing else
(a form's GET, not a POST answered with its errors).
"""

import secrets

from flask import current_app, g, get_flashed_messages, render_template, request
from flask_babel import get_locale
from flask_wtf.csrf import generate_csrf

from ..library_internals import set_request_csrf_token
from .login_state import has_login

EXTENSION_KEY = "exastro_mail.page_cache"
MAX_PAGES = 256  # organizations x languages x pages x what the views pass; the oldest go first
# Stands for the CSRF token while a page is rendered for the cache; letters and digits only, so it
# comes out the same in an attribute and in JSON, and random, so no content can hold it by chance.
_PLACEHOLDER = "csrf" + secrets.token_hex(16)


def init_app(app) -> None:
    """Give the app its own store of rendered pages (two apps never share one)."""
    app.extensions[EXTENSION_KEY] = {}


def render_anonymous_page(template: str, make_form=None, **context) -> str:
    """render_template(template, form=make_form(), **context), from the store when the request has
    nothing of its own. The template decides which form it shows; context must be hashable values
    (they are part of the key)."""

    def render() -> str:
        return render_template(template, **({"form": make_form()} if make_form else {}), **context)

    if not _alike_for_everyone():
        return render()
    pages = current_app.extensions[EXTENSION_KEY]
    key = (
        template,
        request.script_root,
        request.path,
        g.org.id,
        g.org.name,
        str(get_locale()),
        tuple(sorted(context.items())),
    )
    page = pages.get(key)
    if page is None:
        page = _render_with_placeholder(render)
        if len(pages) >= MAX_PAGES:
            pages.pop(next(iter(pages)), None)
        pages[key] = page
    return page.replace(_PLACEHOLDER, generate_csrf())


def _alike_for_everyone() -> bool:
    # get_flashed_messages() keeps what it took for the rest of the request, so the page still shows it.
    return not request.query_string and not get_flashed_messages() and not has_login()


def _render_with_placeholder(render) -> str:
    # Every form's hidden field and every csrf_token() in the templates write the placeholder.
    set_request_csrf_token(_PLACEHOLDER)
    try:
        return render()
    finally:
        set_request_csrf_token(None)
