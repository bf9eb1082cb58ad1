"""Forms for logging in and out."""

from flask_babel import lazy_gettext as _l
from wtforms import HiddenField, PasswordField, StringField
from wtforms.validators import DataRequired, Length

from ..web.forms import Form

TOO_LONG = _l("Use at most %(max)d characters.")


class LoginForm(Form):
    username = StringField(
        _l("Username"),
        validators=[DataRequired(_l("Enter your username.")), Length(max=255, message=TOO_LONG)],
        # Password managers fill a login form by these, and phones leave the name as typed.
        render_kw={"autocomplete": "username", "autocapitalize": "none", "spellcheck": "false"},
    )
    password = PasswordField(
        _l("Password"),
        validators=[DataRequired(_l("Enter your password.")), Length(max=255, message=TOO_LONG)],
        render_kw={"autocomplete": "current-password"},
    )
    next = HiddenField()
