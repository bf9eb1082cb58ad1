"""Forms for logging in and out."""

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import HiddenField, PasswordField, StringField
from wtforms.validators import DataRequired, Length

TOO_LONG = _l("Use at most %(max)d characters.")


class LoginForm(FlaskForm):
    username = StringField(
        _l("Username"),
        validators=[DataRequired(_l("Enter your username.")), Length(max=255, message=TOO_LONG)],
    )
    password = PasswordField(
        _l("Password"),
        validators=[DataRequired(_l("Enter your password.")), Length(max=255, message=TOO_LONG)],
    )
    next = HiddenField()


class PostOnlyForm(FlaskForm):
    """An empty form that carries the CSRF token of a POST button (logout, retry, revoke)."""
