"""What every settings check shares: the error it raises and the reading of submitted text."""

from flask_babel import gettext as _

from ..web.json_envelope import TOO_LONG, UNREADABLE_BODY
from .fields import Field


class Invalid(ValueError):
    """A submitted value is not valid; str() is the message for its field.

    code is the API's result for it: Exastro's code for the rule broken (web/json_envelope.py).
    details are what Exastro's message for that code quotes (max, value, characters). summary, when
    given, is the API's message instead of Exastro's for the code (a rule Exastro does not have).
    """

    def __init__(self, message: str, code: str, summary: str | None = None, **details):
        super().__init__(message)
        self.code = code
        self.summary = summary
        self.details = details


def text_value(value, label) -> str:
    """Submitted text, trimmed ("" for nothing); anything else than text is refused."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise Invalid(_("%(label)s must be text.", label=label), UNREADABLE_BODY)
    return value.strip()


def too_long(value: str, declared: Field) -> None:
    """Refuse a value longer than the field's declared limit."""
    limit = declared.max_length
    if limit is not None and len(value) > limit:
        raise Invalid(_("Use at most %(max)d characters.", max=limit), TOO_LONG, max=limit)


def code_points(characters) -> str:
    """Characters that cannot be shown as they are, named by code point once each: U+000A U+000D."""
    return " ".join(f"U+{ord(c):04X}" for c in sorted(set(characters)))
