"""What every settings check shares: the error it raises and the reading of submitted text."""

from flask_babel import gettext as _

from .fields import Field


class Invalid(ValueError):
    """A submitted value is not valid; str() is the message for its field."""


def text_value(value, label) -> str:
    """Submitted text, trimmed ("" for nothing); anything else than text is refused."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise Invalid(_("%(label)s must be text.", label=label))
    return value.strip()


def too_long(value: str, declared: Field) -> None:
    """Refuse a value longer than the field's declared limit."""
    limit = declared.max_length
    if limit is not None and len(value) > limit:
        raise Invalid(_("Use at most %(max)d characters.", max=limit))
