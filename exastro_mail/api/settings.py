"""The mail sending server settings in Exastro's JSON shape, checked by the same rules as the form."""

from flask_babel import gettext as _

from ..mailserver.fields import BOOL, CHOICE, FIELDS, PORT, secret_stored, stored_values
from ..mailserver.rules import Checked, check_settings

# A choice shown as one boolean per value (encryption: ssl_enable, start_tls_enable): which flag
# names which value, and which field it belongs to.
CHOICE_FLAGS = {flag: (name, value) for name, f in FIELDS.items() for value, flag in f.api_flags}
FLAG_FIELDS = (*CHOICE_FLAGS, *(f.api_key for f in FIELDS.values() if f.kind == BOOL))
# Fields sent as JSON strings, with the length docs/openapi.yaml states.
TEXT_FIELDS = tuple(
    name for name, f in FIELDS.items() if f.api_writable and f.kind not in (CHOICE, PORT, BOOL)
)


def settings_json(settings) -> dict:
    """Stored settings as the API shows them: never a write-only secret, only whether one is stored."""
    if settings is None:
        return {}
    data = {}
    for declared in FIELDS.values():
        value = getattr(settings, declared.column)
        if declared.write_only:
            data[f"{declared.api_key}_set"] = bool(value)
        elif declared.api_flags:
            data.update({flag: value == chosen for chosen, flag in declared.api_flags})
        elif declared.kind == PORT:
            data[declared.api_key] = None if value is None else str(value)  # a string, as Exastro's
        elif declared.kind == BOOL:
            data[declared.api_key] = bool(value)
        else:
            data[declared.api_key] = value
    if settings.oauth2_service_account_email:
        data["oauth2_service_account_client_email"] = settings.oauth2_service_account_email
    return data


def check_api_settings(body: dict, stored, *, host_policy=None) -> Checked:
    """Check an API body (Exastro's names) with the form's rules; errors use the API's names."""
    shape_errors = _shape_errors(body)
    data = {}
    for name, declared in FIELDS.items():
        if not declared.api_writable:
            continue
        if declared.api_flags:
            data[name] = _chosen(body, declared, shape_errors)
        elif declared.kind == BOOL:
            data[name] = body.get(declared.api_key) is True
        else:
            data[name] = body.get(declared.api_key)

    secrets = tuple(
        name for name, declared in FIELDS.items() if declared.write_only and secret_stored(stored, name)
    )
    checked = check_settings(
        data,
        secrets_stored=secrets,
        host_policy=host_policy,
        stored_values=stored_values(stored) if stored is not None else None,
    )
    errors = {}
    for name, message in checked.errors.items():
        flags = [flag for _value, flag in FIELDS[name].api_flags]
        for key in flags or [FIELDS[name].api_key]:
            errors.setdefault(key, message)
    errors.update(shape_errors)
    checked.errors = errors
    return checked


def _chosen(body: dict, declared, shape_errors: dict) -> str:
    """The value a choice's flags pick (its first value when none is true); two true flags are an error."""
    on = [(value, flag) for value, flag in declared.api_flags if body.get(flag) is True]
    if len(on) > 1:
        both = _("Enable either SSL/TLS (ssl_enable) or STARTTLS (start_tls_enable), not both.")
        shape_errors.update({flag: both for _value, flag in on})
    return on[0][0] if on else declared.choices[0][0]


def _shape_errors(body: dict) -> dict[str, str]:
    """JSON types and lengths as docs/openapi.yaml states them, for every field, used or not.

    Stricter than the form, which gets only text: flags are JSON booleans, a port given as text is
    digits only, and a length counts what was sent, before trimming.
    """
    errors = {}
    for name in FLAG_FIELDS:
        if body.get(name) is not None and not isinstance(body[name], bool):
            errors[name] = _("Must be true or false.")
    for name in TEXT_FIELDS:
        key, limit = FIELDS[name].api_key, FIELDS[name].max_length
        value = body.get(key)
        if value is None:
            continue
        if not isinstance(value, str):
            errors[key] = _("Must be text (a JSON string).")
        elif len(value) > limit:
            errors[key] = _("Use at most %(max)d characters.", max=limit)
    port = body.get("smtp_port")
    port_as_text = isinstance(port, str) and port.isascii() and port.isdigit()
    port_as_number = isinstance(port, int) and not isinstance(port, bool)
    if port is not None and not (port_as_text or port_as_number):
        errors["smtp_port"] = _("Enter a whole number from 1 to 65535.")
    return errors
