"""The account page's forms: change the password (the same rules as a reset), language and time zone."""

import functools

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from wtforms import HiddenField, PasswordField, SelectField
from wtforms.fields.choices import SelectChoice

from ..auth.passwords import MAX_PASSWORD_LENGTH
from ..i18n.choice import LANGUAGES, time_zone_names
from ..password_reset.forms import NewPasswordForm
from ..web.forms import Form


@functools.cache
def _zone_choices() -> tuple[SelectChoice, ...]:
    return tuple(SelectChoice(name, name) for name in time_zone_names())


class ChangePasswordForm(NewPasswordForm):
    current_password = PasswordField(
        _l("Current password"),
        render_kw={"autocomplete": "current-password", "maxlength": MAX_PASSWORD_LENGTH, "required": True},
    )
    next = HiddenField()

    def check_current(self, password_matches) -> bool:
        """Whether the current password was typed and is right (password_matches checks it); the error
        goes on its field. A new password equal to it is refused too."""
        current = self.current_password.data or ""
        if not current:
            self.current_password.errors = [_("Enter your current password.")]
            return False
        if not password_matches(current):
            self.current_password.errors = [_("The current password is incorrect.")]
            return False
        if self.password.data == current and not self.password.errors:
            self.password.errors = [_("Choose a password different from the current one.")]
            return False
        return True


class PreferencesForm(Form):
    locale = SelectField(
        _l("Language"),
        choices=[SelectChoice(code, name, render_kw={"lang": code}) for code, name in LANGUAGES.items()],
        validate_choice=False,
    )
    time_zone = SelectField(_l("Time zone"), validate_choice=False)

    def fill_time_zones(self, browser_zone: str | None) -> "PreferencesForm":
        """The choices: this browser's zone (no choice saved), then every zone by name."""
        browser = _("This browser's time zone (%(zone)s)", zone=browser_zone or _("not known yet: UTC"))
        self.time_zone.choices = [SelectChoice("", browser), *_zone_choices()]
        return self

    def check(self) -> bool:
        """Validate CSRF and that both values come from their lists; errors go on their fields."""
        ok = self.validate()
        if self.locale.data not in LANGUAGES:
            self.locale.errors = [_("Choose a language from the list.")]
        if self.time_zone.data and self.time_zone.data not in time_zone_names():
            self.time_zone.errors = [_("Choose a time zone from the list.")]
        return ok and not self.locale.errors and not self.time_zone.errors
