"""The forgot-password and new-password forms."""

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, Length

from ..auth.passwords import MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH, password_policy_problem
from ..web.forms import Form

MAX_IDENTIFIER_LENGTH = 255


class ForgotPasswordForm(Form):
    identifier = StringField(
        _l("Username or email address"),
        validators=[
            DataRequired(_l("Enter your username or email address.")),
            Length(max=MAX_IDENTIFIER_LENGTH, message=_l("Use at most %(max)d characters.")),
        ],
        render_kw={"autocomplete": "username", "spellcheck": "false", "autocapitalize": "none"},
    )


class NewPasswordForm(Form):
    password = PasswordField(
        _l("New password"),
        render_kw={
            "autocomplete": "new-password",
            "minlength": MIN_PASSWORD_LENGTH,
            "maxlength": MAX_PASSWORD_LENGTH,
            "required": True,
        },
    )
    confirmation = PasswordField(
        _l("New password again"),
        render_kw={"autocomplete": "new-password", "maxlength": MAX_PASSWORD_LENGTH, "required": True},
    )

    def check(self, username: str) -> bool:
        """Validate CSRF, the password policy and that both entries match; errors go on their fields."""
        ok = self.validate()
        password = self.password.data or ""
        if not password:
            self.password.errors = [_("Enter a new password.")]
        elif problem := password_policy_problem(password, username):
            self.password.errors = [problem]
        elif (self.confirmation.data or "") != password:
            self.confirmation.errors = [_("The two passwords do not match.")]
        return ok and not self.password.errors and not self.confirmation.errors
