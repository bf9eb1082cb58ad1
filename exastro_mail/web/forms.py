"""The base of every form: Flask-WTF's, with WTForms' own messages loaded once per language."""

import functools

from babel.support import Translations
from flask_babel import get_locale
from flask_wtf import FlaskForm
from wtforms.i18n import messages_path


@functools.lru_cache(maxsize=8)
def wtforms_translations(locale: str) -> Translations:
    """WTForms' built-in messages ("This field is required.", CSRF errors) in a language."""
    return Translations.load(messages_path(), [locale], domain="wtforms")


class Form(FlaskForm):
    """A Flask-WTF form. Flask-WTF reads WTForms' catalog from disk again on every request that makes
    a form (half a millisecond of the login page); the catalogs do not change while the app runs."""

    class Meta(FlaskForm.Meta):
        def get_translations(self, form):
            return wtforms_translations(str(get_locale()))


class PostOnlyForm(Form):
    """An empty form that carries the CSRF token of a POST button (logout, retry, revoke)."""


def field_problems(form) -> list[tuple[str, str, str]]:
    """Each field in error, for an error summary: (the id its link goes to, its label, its message).
    A choice's link goes to its first option; an expired form's to the page's messages."""
    problems = []
    for field in form:
        if field.errors:
            target = f"{field.id}-0" if field.type == "RadioField" else field.id
            if field.type == "CSRFTokenField":
                target = "messages"
            problems.append((target, str(field.label.text), str(field.errors[0])))
    return problems
