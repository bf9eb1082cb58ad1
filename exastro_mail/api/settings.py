"""The mail sending server settings in Exastro's JSON shape, checked by the same rules as the form."""

from flask_babel import gettext as _

from ..mailserver.rules import (
    ENCRYPTION_NONE,
    ENCRYPTION_SSL,
    ENCRYPTION_STARTTLS,
    EXTRA_FIELDS,
    FIELDS,
    Checked,
    check_settings,
)

SSL_FLAG, STARTTLS_FLAG = "ssl_enable", "start_tls_enable"
# Fields beyond Exastro's that the API shows but does not take: the settings page sets them, and
# the rules leave them stored as they are when the data does not hold them.
READ_ONLY_FIELDS = tuple(EXTRA_FIELDS)
FLAG_FIELDS = (SSL_FLAG, STARTTLS_FLAG, "authentication_enable")
TEXT_FIELDS = tuple(
    name for name in FIELDS if name not in ("encryption", "smtp_port", "authentication_enable")
)


def settings_json(settings) -> dict:
    """Stored settings as the API shows them: never the password, only whether one is stored."""
    if settings is None:
        return {}
    data = {
        "smtp_host": settings.smtp_host,
        "smtp_port": str(settings.smtp_port),  # a string, as Exastro's API gives it
        "send_from": settings.send_from,
        "send_name": settings.send_name,
        "reply_to": settings.reply_to,
        "reply_name": settings.reply_name,
        "envelope_from": settings.envelope_from,
        SSL_FLAG: settings.encryption == ENCRYPTION_SSL,
        STARTTLS_FLAG: settings.encryption == ENCRYPTION_STARTTLS,
        "authentication_enable": bool(settings.authentication_enable),
        "authentication_user": settings.authentication_user,
        "authentication_password_set": bool(settings.authentication_password_sealed),
    }
    for name in READ_ONLY_FIELDS:
        data[name] = getattr(settings, name)
    return data


def check_api_settings(body: dict, stored, *, deny_private_hosts: bool = False) -> Checked:
    """Check an API body (Exastro's names) with the form's rules; errors use the API's names."""
    shape_errors = _shape_errors(body)
    ssl, starttls = body.get(SSL_FLAG) is True, body.get(STARTTLS_FLAG) is True
    if ssl and starttls:
        both = _("Enable either SSL/TLS (ssl_enable) or STARTTLS (start_tls_enable), not both.")
        shape_errors.update({SSL_FLAG: both, STARTTLS_FLAG: both})
    data = {name: body.get(name) for name in FIELDS}
    data["encryption"] = ENCRYPTION_SSL if ssl else ENCRYPTION_STARTTLS if starttls else ENCRYPTION_NONE
    data["authentication_enable"] = body.get("authentication_enable") is True

    password_stored = bool(stored and stored.authentication_password_sealed)
    checked = check_settings(data, password_stored=password_stored, deny_private_hosts=deny_private_hosts)
    errors = {}
    for name, message in checked.errors.items():
        if name == "encryption":
            errors.setdefault(SSL_FLAG, message)
            errors.setdefault(STARTTLS_FLAG, message)
        else:
            errors[name] = message
    errors.update(shape_errors)
    checked.errors = errors
    return checked


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
        value = body.get(name)
        if value is None:
            continue
        if not isinstance(value, str):
            errors[name] = _("Must be text (a JSON string).")
        elif len(value) > FIELDS[name].max_length:
            errors[name] = _("Use at most %(max)d characters.", max=FIELDS[name].max_length)
    port = body.get("smtp_port")
    port_as_text = isinstance(port, str) and port.isascii() and port.isdigit()
    port_as_number = isinstance(port, int) and not isinstance(port, bool)
    if port is not None and not (port_as_text or port_as_number):
        errors["smtp_port"] = _("Enter a whole number from 1 to 65535.")
    return errors
