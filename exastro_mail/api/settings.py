"""The mail sending server settings in Exastro's JSON shape, checked by the same rules as the form."""

from flask_babel import gettext as _

from ..mailserver.checks import Invalid
from ..mailserver.fields import BOOL, CHOICE, FIELDS, PORT, secret_stored, stored_values
from ..mailserver.rules import Checked, check_settings
from ..web.json_envelope import BOTH_ENCRYPTIONS, NOT_A_NUMBER, TOO_LONG, UNREADABLE_BODY, timestamp

# A choice shown as one boolean per value (encryption: ssl_enable, start_tls_enable): which flag
# names which value, and which field it belongs to.
CHOICE_FLAGS = {flag: (name, value) for name, f in FIELDS.items() for value, flag in f.api_flags}
FLAG_FIELDS = (*CHOICE_FLAGS, *(f.api_key for f in FIELDS.values() if f.kind == BOOL))
# Fields sent as JSON strings, with the length docs/openapi.yaml states.
TEXT_FIELDS = tuple(
    name for name, f in FIELDS.items() if f.api_writable and f.kind not in (CHOICE, PORT, BOOL)
)


def settings_json(settings) -> dict:
    """Stored settings as the API shows them: never a write-only secret, only whether one is stored.

    Exastro's own text fields answer "" when blank, as Exastro does for what its page saved (it sends
    ""); the fields beyond Exastro's answer null. Who registered and last changed them, and when, as
    Exastro's create_/last_update_ fields.
    """
    if settings is None:
        return {}
    data = {}
    for declared in FIELDS.values():
        value = getattr(settings, declared.column)
        if declared.write_only:
            data[f"{declared.api_key}_set"] = bool(value)
        elif declared.api_flags:
            data.update({flag: value == chosen for chosen, flag in declared.api_flags})
        elif declared.kind == BOOL:
            data[declared.api_key] = bool(value)
        elif declared.api_writable and declared.exastro:
            data[declared.api_key] = "" if value is None else str(value)  # the port too, as Exastro's
        else:
            data[declared.api_key] = value
    if settings.oauth2_service_account_email:
        data["oauth2_service_account_client_email"] = settings.oauth2_service_account_email
    data.update(
        create_timestamp=timestamp(settings.created_at),
        create_user=settings.created_by or "",
        last_update_timestamp=timestamp(settings.updated_at),
        last_update_user=settings.updated_by or "",
    )
    return data


def check_api_settings(body: dict, stored, *, host_policy=None) -> Checked:
    """Check an API body (Exastro's names) with the form's rules; errors and problems use the API's
    names (api/results.py picks the one Exastro would have answered)."""
    shape_problems = _shape_problems(body)
    data = {}
    for name, declared in FIELDS.items():
        if not declared.api_writable:
            continue
        if declared.api_flags:
            data[name] = _chosen(body, declared, shape_problems)
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
    by_api_name = Checked(values=checked.values, warnings=checked.warnings)
    for name, problem in checked.problems.items():
        flags = [flag for _value, flag in FIELDS[name].api_flags]
        for key in flags or [FIELDS[name].api_key]:
            by_api_name.problems.setdefault(key, problem)
    by_api_name.problems.update(shape_problems)
    for key, problem in by_api_name.problems.items():
        by_api_name.refuse(key, problem)
    return by_api_name


def _chosen(body: dict, declared, shape_problems: dict) -> str:
    """The value a choice's flags pick (its first value when none is true); two true flags are an error."""
    on = [(value, flag) for value, flag in declared.api_flags if body.get(flag) is True]
    if len(on) > 1:
        both = Invalid(
            _("Enable either SSL/TLS (ssl_enable) or STARTTLS (start_tls_enable), not both."),
            BOTH_ENCRYPTIONS,
        )
        shape_problems.update({flag: both for _value, flag in on})
    return on[0][0] if on else declared.choices[0][0]


def _shape_problems(body: dict) -> dict[str, Invalid]:
    """JSON types and lengths as docs/openapi.yaml states them, for every field, used or not.

    Stricter than the form, which gets only text: flags are JSON booleans, a port given as text is
    digits only, and a length counts what was sent, before trimming. A wrong JSON type is Exastro's
    400-00002, as its schema check answers it.
    """
    problems = {}
    for name in FLAG_FIELDS:
        if body.get(name) is not None and not isinstance(body[name], bool):
            problems[name] = Invalid(_("Must be true or false."), UNREADABLE_BODY)
    for name in TEXT_FIELDS:
        key, limit = FIELDS[name].api_key, FIELDS[name].max_length
        value = body.get(key)
        if value is None:
            continue
        if not isinstance(value, str):
            problems[key] = Invalid(_("Must be text (a JSON string)."), UNREADABLE_BODY)
        elif len(value) > limit:
            problems[key] = Invalid(_("Use at most %(max)d characters.", max=limit), TOO_LONG, max=limit)
    port = body.get("smtp_port")
    whole = _("Enter a whole number from 1 to 65535.")
    if isinstance(port, str):
        if port and not (port.isascii() and port.isdigit()):
            problems["smtp_port"] = Invalid(whole, NOT_A_NUMBER, value=port)
    elif port is not None and (isinstance(port, bool) or not isinstance(port, int)):
        problems["smtp_port"] = Invalid(whole, UNREADABLE_BODY)
    return problems
