"""The rules of the mail sending server settings, shared by the form, the API and the HTML attributes."""

import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from flask_babel import gettext as _

from ..smtp.hosts import HostPolicy
from ..web.json_envelope import (
    AUTHENTICATION_INCOMPLETE,
    FORBIDDEN_CHARACTERS,
    NOT_A_CHOICE,
    NOT_A_NUMBER,
    NOT_TRUE_OR_FALSE,
    OUT_OF_RANGE,
    REQUIRED,
    UNREADABLE_BODY,
)
from .addresses import check_address, check_display_name
from .certificates import check_trusted_ca
from .checks import Invalid, code_points, text_value, too_long
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
    METHOD_PASSWORD,
    PEM,
    PORT,
    SECRET,
    TEXT,
    URL,
    Field,
    conditions,
    used,
)
from .host_names import check_host, check_public_host, resolve_with_timeout
from .ports import port_warning

# Exastro refuses authentication with a blank user or password by one rule of its own, after the
# checks of each field: 400-00032 instead of "required" for these two while a password is the method.
PASSWORD_PAIR = ("authentication_user", "authentication_password")
MIN_PORT, MAX_PORT = 1, 65535


@dataclass
class Checked:
    """The outcome of checking submitted settings: clean values, or an error per field (its message
    in errors, the Invalid itself, with the API's result code, in problems)."""

    values: dict = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    warnings: dict[str, str] = field(default_factory=dict)
    problems: dict[str, Invalid] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.errors

    def refuse(self, name: str, problem: Invalid) -> None:
        """Record the error of a field."""
        self.errors[name] = str(problem)
        self.problems[name] = problem


def check_settings(
    data: Mapping[str, object],
    *,
    password_stored: bool = False,
    secrets_stored: tuple[str, ...] = (),
    host_policy: HostPolicy | None = None,
    resolve: Callable[[str], list[str]] | None = None,
    stored_values: Mapping | None = None,
) -> Checked:
    """Check submitted settings. A blank password with authentication on keeps the stored one:
    values["authentication_password"] is then None (so for any write-only field named in
    secrets_stored), but only while the fields it is bound to keep their stored_values (when given).
    A field beyond Exastro's (trusted_ca_pem) is checked, and so saved, only when data holds it.
    host_policy (when given) refuses the hosts of the SMTP server, the token URL and the Graph URL it
    does not allow, looked up with resolve."""
    stored = {*secrets_stored, *(["authentication_password"] if password_stored else [])}
    checked = _each_field(data, stored)
    if host_policy is not None:
        _check_hosts_allowed(checked, host_policy, resolve or resolve_with_timeout)
    _add_warnings(checked)
    for name, problem in check_oauth_combination(checked.values, checked.errors).items():
        checked.refuse(name, problem)
    if stored_values is not None:
        for name, problem in _secrets_that_must_be_typed_again(checked, stored, stored_values).items():
            checked.refuse(name, problem)
    _as_exastro_pairs_them(checked)
    return checked


def _each_field(data: Mapping[str, object], stored: set) -> Checked:
    """Each field checked by its kind, in the declared order; an unused one is None."""
    checked = Checked()
    for declared in FIELDS.values():
        if not declared.api_writable and declared.name not in data:
            continue  # beyond Exastro's: left as stored unless sent
        if any(condition in checked.errors for condition, _values in conditions(declared.name)):
            continue  # whether it is used depends on a field that is wrong: that field's error says it
        if declared.when and not used(declared.name, checked.values):
            checked.values[declared.name] = None
            continue
        try:
            checked.values[declared.name] = _CHECKS[declared.kind](data.get(declared.name), declared, stored)
        except Invalid as problem:
            checked.refuse(declared.name, problem)
    return checked


def _add_warnings(checked: Checked) -> None:
    """Values that are saved but look like a mistake: a port that does not go with the encryption,
    credentials that would cross the network in clear."""
    if checked.values.get("smtp_port") and checked.values.get("encryption"):
        warning = port_warning(checked.values["smtp_port"], checked.values["encryption"])
        if warning:
            checked.warnings["smtp_port"] = warning
    warning = unencrypted_auth_warning(checked.values)
    if warning:
        checked.warnings["encryption"] = warning


def _as_exastro_pairs_them(checked: Checked) -> None:
    """A blank user or password for password authentication: Exastro's one code for both."""
    if checked.values.get("authentication_method") != METHOD_PASSWORD:
        return
    for name in PASSWORD_PAIR:
        problem = checked.problems.get(name)
        if problem is not None and problem.code == REQUIRED:
            problem.code = AUTHENTICATION_INCOMPLETE


# The fields naming a host this install connects to, and how to take the host from the value.
_CONNECTED_HOSTS = {
    "smtp_host": lambda value: value,
    "oauth2_token_url": lambda value: urlsplit(value).hostname,
    "graph_url": lambda value: urlsplit(value).hostname,
}


def _check_hosts_allowed(checked: Checked, policy: HostPolicy, resolve) -> None:
    for name, host_of in _CONNECTED_HOSTS.items():
        if checked.values.get(name) is None:
            continue
        try:
            check_public_host(host_of(checked.values[name]), policy, resolve)
        except Invalid as problem:
            del checked.values[name]
            checked.refuse(name, problem)


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
            errors[name] = Invalid(str(declared.retype), REQUIRED)
    return errors


def check_choice(value, declared: Field) -> str:
    """One of the declared choices' values; blank is the first for a choice that is not required."""
    chosen = text_value(value, declared.label)
    if not chosen and not declared.required:
        return declared.choices[0][0]
    if chosen not in dict(declared.choices):
        labels = [str(label) for _value, label in declared.choices]
        listed = _(", ").join(labels[:-1]) + _(" or ") + labels[-1]
        raise Invalid(_("Choose %(choices)s.", choices=listed), NOT_A_CHOICE)
    return chosen


def check_port(value) -> int:
    """A whole number from 1 to 65535 (given as a number or as text)."""
    whole = _("Enter a whole number from 1 to 65535.")
    if isinstance(value, bool):
        raise Invalid(whole, NOT_A_NUMBER, value=str(value).lower())
    if isinstance(value, int):
        port = value
    else:
        text = text_value(value, FIELDS["smtp_port"].label)
        if not text:
            raise Invalid(_("Enter the SMTP server port."), REQUIRED)
        if not text.isascii() or not text.isdigit():
            raise Invalid(whole, NOT_A_NUMBER, value=text)
        port = int(text)
    if not MIN_PORT <= port <= MAX_PORT:
        raise Invalid(whole, OUT_OF_RANGE, value=str(port), min=MIN_PORT, max=MAX_PORT)
    return port


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
    raise Invalid(_("Must be true or false."), NOT_TRUE_OR_FALSE)


def checktext_value(value, declared: Field) -> str | None:
    """One line of text, without control characters; blank only for a field without a `missing` message."""
    text = text_value(value, declared.label)
    if not text:
        if declared.missing:
            raise Invalid(str(declared.missing), REQUIRED)
        return None
    too_long(text, declared)
    refuse_characters(
        [c for c in text if unicodedata.category(c) == "Cc"],
        _("%(label)s must not contain control characters.", label=declared.label),
    )
    return text


def check_secret(value, declared: Field, stored: bool) -> str | None:
    """A new secret, or None to keep the stored one (blank). Secrets are not trimmed."""
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise Invalid(_("%(label)s must be text.", label=declared.label), UNREADABLE_BODY)
    if not value:
        if stored or not declared.missing:
            return None
        raise Invalid(str(declared.missing), REQUIRED)
    too_long(value, declared)
    refuse_characters(
        [c for c in value if c in "\x00\r\n"],
        _("%(label)s must not contain line breaks or NUL characters.", label=declared.label),
    )
    return value


def refuse_characters(forbidden: list[str], message: str) -> None:
    """Refuse a value that holds any of these characters, naming their code points."""
    if forbidden:
        raise Invalid(message, FORBIDDEN_CHARACTERS, characters=code_points(forbidden))


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
