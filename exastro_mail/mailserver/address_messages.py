"""email-validator's reasons said in our words, in the reader's language.

The library explains in English sentences of its own ("There must be something after the @-sign.");
the page says what to do in the same voice as our other messages. The first pattern found in the
library's reason decides; anything new in a later version gets the general sentence."""

from flask_babel import lazy_gettext as _l

_UNWANTED = _l("Remove the characters that a mail address cannot have.")
_MESSAGES = (
    (("something after the @-sign",), _l("Add the domain after the @, as in name@example.com.")),
    (("something before the @-sign",), _l("Add the name before the @, as in name@example.com.")),
    (("must have an @-sign", "small commercial at"), _l("Use the @ sign, as in name@example.com.")),
    (("two periods in a row",), _l("Remove one of the two dots in a row.")),
    (("should have a period",), _l("The domain after the @ needs a dot, as in example.com.")),
    (("top-level domain",), _l("The domain after the @ must end in a known top-level domain, such as .com.")),
    (("special-use or reserved",), _l("The domain after the @ is reserved and cannot receive mail.")),
    (("too long",), _l("The address is too long.")),
    (("bracket", "address literal", "IP address"), _l("Use a domain name after the @, not an IP address.")),
    (("Quoting", "quote"), _l("Write the name before the @ without quotes.")),
    (("before the @-sign", "period and a hyphen"), _UNWANTED),
    (("after the @-sign", "IDNA"), _l("The domain after the @ is not a valid domain name.")),
    (("character",), _UNWANTED),
)
_GENERAL = _l("This is not a valid mail address; it looks like name@example.com.")


def address_problem(reason: str) -> object:
    """Our sentence (a lazy string) for one of email-validator's reasons."""
    for parts, message in _MESSAGES:
        if any(part in reason for part in parts):
            return message
    return _GENERAL
