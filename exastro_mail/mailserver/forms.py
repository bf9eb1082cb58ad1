"""The settings form: WTForms renders it and carries CSRF; the rules module decides what is valid."""

from flask_babel import lazy_gettext as _l
from wtforms import BooleanField, HiddenField, PasswordField, RadioField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice

from ..smtp.endpoint import ENCRYPTION_NONE
from ..web.forms import Form
from .fields import (
    ADDRESS,
    BOOL,
    CHOICE,
    DISPLAY_NAME,
    FIELDS,
    HOST,
    KEY,
    PEM,
    PORT,
    SECRET,
    TEXT,
    URL,
    Field,
    conditions,
    secret_stored,
    stored_values,
)
from .ports import DEFAULT_PORTS
from .rules import check_settings
from .sections import SECTIONS, runs_of_rows

_ADDRESS = {"inputmode": "email", "autocomplete": "off", "spellcheck": "false"}
# The input each kind of field gets, and the HTML attributes beside the declared maxlength and required.
_INPUTS = {
    HOST: (StringField, {"autocomplete": "off", "spellcheck": "false"}),
    PORT: (StringField, {"inputmode": "numeric", "pattern": "[0-9]*", "class": "size-port"}),
    ADDRESS: (StringField, _ADDRESS),
    DISPLAY_NAME: (StringField, {"class": "size-name"}),
    TEXT: (StringField, {"autocomplete": "off"}),
    SECRET: (PasswordField, {"autocomplete": "new-password"}),
    PEM: (TextAreaField, {"rows": 6, "spellcheck": "false", "autocomplete": "off"}),
    URL: (StringField, {**_ADDRESS, "inputmode": "url", "class": "size-url"}),
    KEY: (TextAreaField, {"rows": 6, "spellcheck": "false", "autocomplete": "off"}),
}


def _input(declared: Field):
    if declared.kind == BOOL:
        return BooleanField(declared.label)
    if declared.kind == CHOICE:
        return RadioField(
            declared.label,
            choices=[SelectChoice(value, label) for value, label in declared.choices],
            default=declared.choices[0][0],
            validate_choice=False,
        )
    field_class, attrs = _INPUTS[declared.kind]
    # A port starts as the default encryption's.
    default = str(DEFAULT_PORTS[ENCRYPTION_NONE]) if declared.kind == PORT else declared.default
    return field_class(declared.label, default=default, render_kw=declared.html_attributes(**attrs))


class MailServerForm(Form):
    """One input per declared field (added below), and the test mail's recipient."""

    # Only "Send test mail" reads it; it sits in this form so the test takes the values beside it.
    test_recipient = StringField(_l("Send the test mail to"), render_kw={**_ADDRESS, "maxlength": 255})

    @staticmethod
    def sections():
        """The page's sections: (HTML id, title, its fields in runs of rows shown under one condition)."""
        return [(section_id, title, runs_of_rows(names)) for section_id, title, names in SECTIONS]

    @staticmethod
    def shown_when(declared: Field) -> list:
        """What must hold for a run's rows to be shown (for the page's script): [[field, values], ...]."""
        return [[name, list(values)] for name, values in conditions(declared.name)]

    def check(
        self,
        *,
        password_stored: bool = False,
        secrets_stored: tuple[str, ...] = (),
        host_policy=None,
        stored=None,
    ):
        """Check CSRF and the rules against the stored settings, if any; put each problem on its field.
        Returns the rules' outcome."""
        csrf_ok = super().validate()
        if stored is not None:
            secrets_stored = (
                *secrets_stored,
                *(name for name in FIELDS if FIELDS[name].write_only and secret_stored(stored, name)),
            )
        checked = check_settings(
            {name: self[name].data for name in FIELDS},
            password_stored=password_stored,
            secrets_stored=secrets_stored,
            host_policy=host_policy,
            stored_values=stored_values(stored) if stored is not None else None,
        )
        for name, message in checked.errors.items():
            self[name].errors = [message]
        for name, declared in FIELDS.items():
            if declared.kind == KEY:
                self[name].data = ""  # a pasted key is never sent back to the browser
        if "trusted_ca_pem" in checked.errors and "PRIVATE KEY" in (self.trusted_ca_pem.data or ""):
            self.trusted_ca_pem.data = ""  # a pasted key is not sent back to the browser
        if not csrf_ok:
            checked.errors.setdefault("csrf_token", str(_l("The form has expired; submit it again.")))
        return checked

    def fill_from(self, settings) -> None:
        """Show stored settings; no write-only value is ever sent back."""
        for name, declared in FIELDS.items():
            if not declared.write_only:
                value = getattr(settings, name)
                self[name].data = str(value) if declared.kind == PORT and value is not None else value


for _declared in FIELDS.values():
    setattr(MailServerForm, _declared.name, _input(_declared))


# The word the delete dialog asks for, in the dialog's language (as in Exastro).
CONFIRMATION_WORDS = {"en": "Delete", "ja": "削除"}


def confirmation_word(locale: str) -> str:
    """The word to type in a delete dialog shown in locale (English for a language without one)."""
    return CONFIRMATION_WORDS.get(locale, CONFIRMATION_WORDS["en"])


class DeleteForm(Form):
    """The typed confirmation of the delete dialog, and the language the dialog asked in."""

    confirmation = StringField(_l("Confirmation"), render_kw={"autocomplete": "off", "spellcheck": "false"})
    dialog_locale = HiddenField()

    def asked_word(self, current_locale: str) -> str:
        """The word the submitted dialog asked for: that of its own language, which may differ from
        this request's (the language was switched in another tab meanwhile)."""
        locale = self.dialog_locale.data if self.dialog_locale.data in CONFIRMATION_WORDS else current_locale
        return confirmation_word(locale)
