"""The checks of a mail address and of a display name, for the settings and for notifications."""

import unicodedata

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from ..mime import AddressError, sendable_address
from ..web.json_envelope import FORBIDDEN_CHARACTERS, NOT_A_MAIL_ADDRESS, REQUIRED, TOO_LONG
from .address_messages import address_problem
from .checks import Invalid, code_points, text_value
from .fields import MAX_ADDRESS_LENGTH


def check_address(value, required: bool) -> str | None:
    """One mailbox address (no display name, list or group), syntax only; as mime.sendable_address
    stores it (ASCII before the @, the domain in punycode)."""
    name_free = text_value(value, _l("A mail address"))
    if not name_free:
        if required:
            raise Invalid(_("Enter a mail address."), REQUIRED)
        return None
    if len(name_free) > MAX_ADDRESS_LENGTH:
        raise Invalid(
            _("Use at most %(max)d characters.", max=MAX_ADDRESS_LENGTH), TOO_LONG, max=MAX_ADDRESS_LENGTH
        )
    if "\r" in name_free or "\n" in name_free:
        raise Invalid(_("A mail address must be on one line."), NOT_A_MAIL_ADDRESS)
    if "," in name_free or ";" in name_free:
        raise Invalid(_("Enter one mail address only, not a list."), NOT_A_MAIL_ADDRESS)
    if "<" in name_free or ">" in name_free:
        raise Invalid(
            _("Enter the address only; put the name in the display name field."), NOT_A_MAIL_ADDRESS
        )
    if "@" not in name_free:
        raise Invalid(
            _("This is not a valid mail address: it needs an @, as in name@example.com."), NOT_A_MAIL_ADDRESS
        )
    try:
        return sendable_address(name_free)
    except AddressError as error:
        if error.non_ascii_local_part:
            raise Invalid(
                _(
                    "Use only ASCII letters, digits and symbols before the @: many mail servers cannot "
                    "carry other characters there."
                ),
                NOT_A_MAIL_ADDRESS,
            ) from None
        raise Invalid(str(address_problem(str(error))), NOT_A_MAIL_ADDRESS) from None


def check_display_name(value, max_length: int) -> str | None:
    """An optional one-line display name."""
    name = text_value(value, _l("A display name"))
    if not name:
        return None
    if len(name) > max_length:
        raise Invalid(_("Use at most %(max)d characters.", max=max_length), TOO_LONG, max=max_length)
    forbidden = [c for c in name if unicodedata.category(c) in {"Cc", "Zl", "Zp"}]
    if forbidden:
        raise Invalid(
            _("A display name must be one line, without control characters."),
            FORBIDDEN_CHARACTERS,
            characters=code_points(forbidden),
        )
    return name
