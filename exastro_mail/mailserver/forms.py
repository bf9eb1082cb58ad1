"""The settings form: WTForms renders it and carries CSRF; the rules module decides what is valid."""

from flask_babel import lazy_gettext as _l
from wtforms import BooleanField, HiddenField, PasswordField, RadioField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice

from ..web.forms import Form
from .rules import DEFAULT_PORTS, ENCRYPTION_CHOICES, ENCRYPTION_NONE, EXTRA_FIELDS, FIELDS, check_settings

FORM_FIELDS = {**FIELDS, **EXTRA_FIELDS}


def _attrs(name: str, **extra) -> dict:
    rule = FORM_FIELDS[name]
    attrs = dict(extra)
    if rule.max_length:
        attrs["maxlength"] = rule.max_length
    if rule.required:
        attrs["required"] = True
    return attrs


_ADDRESS = {"inputmode": "email", "autocomplete": "off", "spellcheck": "false"}


class MailServerForm(Form):
    smtp_host = StringField(
        FIELDS["smtp_host"].label, render_kw=_attrs("smtp_host", autocomplete="off", spellcheck="false")
    )
    encryption = RadioField(
        FIELDS["encryption"].label,
        choices=[SelectChoice(value, label) for value, label in ENCRYPTION_CHOICES],
        default=ENCRYPTION_NONE,
        validate_choice=False,
    )
    smtp_port = StringField(
        FIELDS["smtp_port"].label,
        default=str(DEFAULT_PORTS[ENCRYPTION_NONE]),
        render_kw=_attrs("smtp_port", inputmode="numeric", pattern="[0-9]*"),
    )
    authentication_enable = BooleanField(FIELDS["authentication_enable"].label)
    authentication_user = StringField(
        FIELDS["authentication_user"].label, render_kw=_attrs("authentication_user", autocomplete="off")
    )
    authentication_password = PasswordField(
        FIELDS["authentication_password"].label,
        render_kw=_attrs("authentication_password", autocomplete="new-password"),
    )
    send_from = StringField(FIELDS["send_from"].label, render_kw=_attrs("send_from", **_ADDRESS))
    send_name = StringField(FIELDS["send_name"].label, render_kw=_attrs("send_name"))
    reply_to = StringField(FIELDS["reply_to"].label, render_kw=_attrs("reply_to", **_ADDRESS))
    reply_name = StringField(FIELDS["reply_name"].label, render_kw=_attrs("reply_name"))
    envelope_from = StringField(FIELDS["envelope_from"].label, render_kw=_attrs("envelope_from", **_ADDRESS))
    trusted_ca_pem = TextAreaField(
        EXTRA_FIELDS["trusted_ca_pem"].label,
        render_kw=_attrs("trusted_ca_pem", rows=6, spellcheck="false", autocomplete="off"),
    )
    # Only "Send test mail" reads it; it sits in this form so the test takes the values beside it.
    test_recipient = StringField(_l("Send the test mail to"), render_kw={**_ADDRESS, "maxlength": 255})

    def check(self, *, password_stored: bool, deny_private_hosts: bool = False):
        """Check CSRF and the rules; put each problem on its field. Returns the rules' outcome."""
        csrf_ok = super().validate()
        checked = check_settings(
            {name: self[name].data for name in FORM_FIELDS},
            password_stored=password_stored,
            deny_private_hosts=deny_private_hosts,
        )
        for name, message in checked.errors.items():
            self[name].errors = [message]
        if "trusted_ca_pem" in checked.errors and "PRIVATE KEY" in (self.trusted_ca_pem.data or ""):
            self.trusted_ca_pem.data = ""  # a pasted key is not sent back to the browser
        if not csrf_ok:
            checked.errors.setdefault("csrf_token", str(_l("The form has expired; submit it again.")))
        return checked

    def fill_from(self, settings) -> None:
        """Show stored settings; the password is never sent back."""
        for name in FORM_FIELDS:
            if name != "authentication_password":
                value = getattr(settings, name)
                self[name].data = str(value) if name == "smtp_port" else value


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
