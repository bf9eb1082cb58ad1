"""The settings API's answer to a body that breaks the rules, as Exastro gives it: the result code
and message of the first field at fault in Exastro's order of checks, in Exastro's words.

Taken from exastro-platform: the order from bl_organization_setting_service.validate_setting_mailserver,
the codes and Japanese texts from common_library/common/validation.py, the English texts from
common_resources/en/language.py with its copy-paste slips fixed (docs/api.md lists them).
"""

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from ..mailserver.checks import Invalid
from ..mailserver.fields import FIELDS
from ..web.json_envelope import (
    AUTHENTICATION_INCOMPLETE,
    BOTH_ENCRYPTIONS,
    FORBIDDEN_CHARACTERS,
    NOT_A_CHOICE,
    NOT_A_HOST,
    NOT_A_MAIL_ADDRESS,
    NOT_A_NUMBER,
    NOT_A_URL,
    OUT_OF_RANGE,
    REQUIRED,
    TOO_LONG,
    UNREADABLE_BODY,
)

# Exastro checks the JSON types first (its OpenAPI schema), then these fields one after the other,
# and last whether authentication has both a user and a password. Our own fields come after.
EXASTRO_ORDER = (
    "smtp_host",
    "smtp_port",
    "send_from",
    "send_name",
    "reply_to",
    "reply_name",
    "envelope_from",
    "ssl_enable",
    "start_tls_enable",
    "authentication_user",
    "authentication_password",
)
_OURS = tuple(f.api_key for f in FIELDS.values() if f.api_writable and f.api_key not in EXASTRO_ORDER)

# The items as Exastro's messages name them (its English "SMTP Server Host" for a missing port fixed).
EXASTRO_ITEMS = {
    "smtp_host": _l("SMTP Server Host"),
    "smtp_port": _l("SMTP Server Port"),
    "send_from": _l("Sender email address"),
    "send_name": _l("Sender display name"),
    "reply_to": _l("Reply email address"),
    "reply_name": _l("Reply-to display name"),
    "envelope_from": _l("Envelope email address"),
    "authentication_user": _l("Authentication user"),
    "authentication_password": _l("Authentication password"),
}
# Exastro's Japanese names the port otherwise when it is missing: 送信サーバーポート番号.
MISSING_PORT = _l("Sending server port number")
LONGEST_QUOTED_VALUE = 64


def first_problem(problems: dict[str, Invalid]) -> tuple[str, Invalid]:
    """The field (API name) and problem Exastro would have answered first."""
    return min(problems.items(), key=lambda item: _rank(*item))


def _rank(key: str, problem: Invalid) -> tuple[int, int]:
    if problem.code == UNREADABLE_BODY:
        stage = 0  # Exastro's schema check, before every rule
    elif key in EXASTRO_ORDER:
        stage = 2 if problem.code == AUTHENTICATION_INCOMPLETE else 1
    else:
        stage = 3
    order = (*EXASTRO_ORDER, *_OURS)
    return stage, order.index(key) if key in order else len(order)


def summary(key: str, problem: Invalid) -> str:
    """The envelope's message for this field's problem, in the request's language."""
    if problem.summary:
        return problem.summary
    item = str(MISSING_PORT if (key, problem.code) == ("smtp_port", REQUIRED) else _item(key))
    details = dict(problem.details)
    value = str(details.get("value", ""))
    details["value"] = value if len(value) <= LONGEST_QUOTED_VALUE else value[:LONGEST_QUOTED_VALUE] + "…"
    return MESSAGES.get(problem.code, MESSAGES[NOT_A_CHOICE])(key, item, details)


# Each code the settings' checks answer through the API (docs/openapi.yaml lists the same), and its
# message: (the API name, the item as Exastro names it, the problem's details) -> text.
MESSAGES = {
    UNREADABLE_BODY: lambda key, item, d: _("Request body parameter (%(item)s) is invalid.", item=key),
    REQUIRED: lambda key, item, d: _("Missing a required item. (%(item)s)", item=item),
    TOO_LONG: lambda key, item, d: _(
        "The number of characters that can be specified has been exceeded. "
        "(item: %(item)s, maximum number of characters: %(max)s)",
        item=item,
        max=d.get("max"),
    ),
    FORBIDDEN_CHARACTERS: lambda key, item, d: _(
        "Contains characters that cannot be specified. "
        "(Item: %(item)s, Characters that cannot be specified: %(characters)s)",
        item=item,
        characters=d.get("characters", ""),
    ),
    NOT_A_MAIL_ADDRESS: lambda key, item, d: _(
        "There is an error in the format of the email address. (%(item)s)", item=item
    ),
    NOT_A_URL: lambda key, item, d: _("There is an error in the URL format. (%(item)s)", item=item),
    NOT_A_HOST: lambda key, item, d: _("There is an error in the format of the host. (%(item)s)", item=item),
    NOT_A_NUMBER: lambda key, item, d: _(
        "Numeric conversion failed. (Item: %(item)s, Target value: %(value)s)", item=item, value=d["value"]
    ),
    OUT_OF_RANGE: lambda key, item, d: _(
        "Value is less than the minimum value or greater than the maximum value. "
        "(Item: %(item)s, Target value: %(value)s, Minimum value: %(min)s, Maximum value: %(max)s)",
        item=item,
        value=d["value"],
        min=d.get("min"),
        max=d.get("max"),
    ),
    BOTH_ENCRYPTIONS: lambda key, item, d: _("SSL and StartTLS cannot be enabled simultaneously."),
    AUTHENTICATION_INCOMPLETE: lambda key, item, d: _(
        "Authentication user and password are required to enable authentication."
    ),
    NOT_A_CHOICE: lambda key, item, d: _("Not a value that can be specified. (%(item)s)", item=item),
}


def _item(key: str):
    if key in EXASTRO_ITEMS:
        return EXASTRO_ITEMS[key]
    declared = next((f for f in FIELDS.values() if f.api_key == key), None)
    return declared.label if declared else key
