"""The rules of the mail sending server settings, shared by the form, the API and the HTML attributes."""

import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from ..mime import AddressError, sendable_address
from .address_messages import address_problem
from .certificates import check_trusted_ca
from .checks import Invalid, text_value, too_long
from .credentials import (
    check_https_url,
    check_oauth_combination,
    check_service_account_key,
    unencrypted_auth_warning,
)
from .fields import (
    ADDRESS,
    BOOL,
    CHOICE,
    DISPLAY_NAME,
    FIELDS,
    HOST,
    KEY,
    MAX_ADDRESS_LENGTH,
    PEM,
    PORT,
    SECRET,
    TEXT,
    URL,
    Field,
    used,
)
from .host_names import check_host, check_public_host, resolve_with_timeout
from .ports import port_warning


@dataclass
class Checked:
    """The outcome of checking submitted settings: clean values, or an error per field."""

    values: dict = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    warnings: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.errors


def check_settings(
    data: Mapping[str, object],
    *,
    password_stored: bool = False,
    secrets_stored: tuple[str, ...] = (),
    deny_private_hosts: bool = False,
    resolve: Callable[[str], list[str]] | None = None,
    stored_values: Mapping | None = None,
) -> Checked:
    """Check submitted settings. A blank password with authentication on keeps the stored one:
    values["authentication_password"] is then None (so for any write-only field named in
    secrets_stored), but only while the fields it is bound to keep their stored_values (when given).
    A field beyond Exastro's (trusted_ca_pem) is checked, and so saved, only when data holds it.
    deny_private_hosts refuses hosts in private ranges, looked up with resolve."""
    stored = {*secrets_stored, *(["authentication_password"] if password_stored else [])}
    checked = Checked()
    for declared in FIELDS.values():
        if not declared.api_writable and declared.name not in data:
            continue  # beyond Exastro's: left as stored unless sent
        if declared.when and not used(declared.name, checked.values):
            checked.values[declared.name] = None
            continue
        try:
            checked.values[declared.name] = _CHECKS[declared.kind](data.get(declared.name), declared, stored)
        except Invalid as problem:
            checked.errors[declared.name] = str(problem)
    if deny_private_hosts and "smtp_host" in checked.values:
        try:
            check_public_host(checked.values["smtp_host"], resolve or resolve_with_timeout)
        except Invalid as problem:
            del checked.values["smtp_host"]
            checked.errors["smtp_host"] = str(problem)

    if checked.values.get("smtp_port") and checked.values.get("encryption"):
        warning = port_warning(checked.values["smtp_port"], checked.values["encryption"])
        if warning:
            checked.warnings["smtp_port"] = warning
    warning = unencrypted_auth_warning(checked.values)
    if warning:
        checked.warnings["encryption"] = warning
    checked.errors.update(check_oauth_combination(checked.values, checked.errors))
    if stored_values is not None:
        checked.errors.update(_secrets_that_must_be_typed_again(checked, stored, stored_values))
    return checked


def _secrets_that_must_be_typed_again(checked: Checked, stored: set, stored_values: Mapping) -> dict:
    """A kept (blank) secret whose server changed: the stored one must not be sent to the new one."""
    errors = {}
    for name in stored:
        declared = FIELDS[name]
        if name in checked.errors or checked.values.get(name) is not None or not used(name, checked.values):
            continue
        if any(
            bound in checked.values and checked.values[bound] != stored_values.get(bound)
            for bound in declared.bound_to
        ):
            errors[name] = str(declared.retype)
    return errors


def check_choice(value, declared: Field) -> str:
    """One of the declared choices' values; blank is the first for a choice that is not required."""
    chosen = text_value(value, declared.label)
    if not chosen and not declared.required:
        return declared.choices[0][0]
    if chosen not in dict(declared.choices):
        labels = [str(label) for _value, label in declared.choices]
        listed = _(", ").join(labels[:-1]) + _(" or ") + labels[-1]
        raise Invalid(_("Choose %(choices)s.", choices=listed))
    return chosen


def check_port(value) -> int:
    """A whole number from 1 to 65535 (given as a number or as text)."""
    if isinstance(value, bool):
        raise Invalid(_("Enter a whole number from 1 to 65535."))
    if isinstance(value, int):
        port = value
    else:
        text = text_value(value, FIELDS["smtp_port"].label)
        if not text:
            raise Invalid(_("Enter the SMTP server port."))
        if not text.isascii() or not text.isdigit():
            raise Invalid(_("Enter a whole number from 1 to 65535."))
        port = int(text)
    if not 1 <= port <= 65535:
        raise Invalid(_("Enter a whole number from 1 to 65535."))
    return port


def check_address(value, required: bool) -> str | None:
    """One mailbox address (no display name, list or group), syntax only; as mime.sendable_address
    stores it (ASCII before the @, the domain in punycode)."""
    name_free = text_value(value, _l("A mail address"))
    if not name_free:
        if required:
            raise Invalid(_("Enter a mail address."))
        return None
    if len(name_free) > MAX_ADDRESS_LENGTH:
        raise Invalid(_("Use at most %(max)d characters.", max=MAX_ADDRESS_LENGTH))
    if "\r" in name_free or "\n" in name_free:
        raise Invalid(_("A mail address must be on one line."))
    if "," in name_free or ";" in name_free:
        raise Invalid(_("Enter one mail address only, not a list."))
    if "<" in name_free or ">" in name_free:
        raise Invalid(_("Enter the address only; put the name in the display name field."))
    if "@" not in name_free:
        raise Invalid(_("This is not a valid mail address: it needs an @, as in name@example.com."))
    try:
        return sendable_address(name_free)
    except AddressError as error:
        if error.non_ascii_local_part:
            raise Invalid(
                _(
                    "Use only ASCII letters, digits and symbols before the @: many mail servers cannot "
                    "carry other characters there."
                )
            ) from None
        raise Invalid(str(address_problem(str(error)))) from None


def check_display_name(value, max_length: int) -> str | None:
    """An optional one-line display name."""
    name = text_value(value, _l("A display name"))
    if not name:
        return None
    if len(name) > max_length:
        raise Invalid(_("Use at most %(max)d characters.", max=max_length))
    if any(unicodedata.category(c) in {"Cc", "Zl", "Zp"} for c in name):
        raise Invalid(_("A display name must be one line, without control characters."))
    return name


def check_flag(value) -> bool:
    """A checkbox or JSON boolean."""
    if isinstance(value, bool):
        return value
    if value is None:
        return False
    if isinstance(value, str) and value.strip().lower() in {"", "0", "false", "off", "n"}:
        return False
    if isinstance(value, str) and value.strip().lower() in {"1", "true", "on", "y", "yes"}:
        return True
    raise Invalid(_("Must be true or false."))


def checktext_value(value, declared: Field) -> str | None:
    """One line of text, without control characters; blank only for a field without a `missing` message."""
    text = text_value(value, declared.label)
    if not text:
        if declared.missing:
            raise Invalid(str(declared.missing))
        return None
    too_long(text, declared)
    if any(unicodedata.category(c) == "Cc" for c in text):
        raise Invalid(_("%(label)s must not contain control characters.", label=declared.label))
    return text


def check_secret(value, declared: Field, stored: bool) -> str | None:
    """A new secret, or None to keep the stored one (blank). Secrets are not trimmed."""
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise Invalid(_("%(label)s must be text.", label=declared.label))
    if not value:
        if stored or not declared.missing:
            return None
        raise Invalid(str(declared.missing))
    too_long(value, declared)
    if any(c in value for c in "\x00\r\n"):
        raise Invalid(_("%(label)s must not contain line breaks or NUL characters.", label=declared.label))
    return value


# How each kind of field is checked: (value, its declaration, the write-only fields with a stored value).
_CHECKS = {
    HOST: lambda value, declared, stored: check_host(value),
    CHOICE: lambda value, declared, stored: check_choice(value, declared),
    PORT: lambda value, declared, stored: check_port(value),
    ADDRESS: lambda value, declared, stored: check_address(value, declared.required),
    DISPLAY_NAME: lambda value, declared, stored: check_display_name(value, declared.max_length),
    BOOL: lambda value, declared, stored: check_flag(value),
    TEXT: lambda value, declared, stored: checktext_value(value, declared),
    SECRET: lambda value, declared, stored: check_secret(value, declared, declared.name in stored),
    PEM: lambda value, declared, stored: check_trusted_ca(value),
    URL: lambda value, declared, stored: check_https_url(value, declared),
    KEY: lambda value, declared, stored: check_service_account_key(value, declared, declared.name in stored),
}


def field_problem(name: str, value) -> str | None:
    """What is wrong with one field's value taken on its own (the page's inline check), or None."""
    declared = FIELDS[name]
    try:
        _CHECKS[declared.kind](value, declared, set())
    except Invalid as problem:
        return str(problem)
    return None
