"""Mail addresses as this app sends to them: ASCII only, an internationalized domain in its punycode form.

Non-ASCII before the @ needs SMTPUTF8 (RFC 6531) on every server on the way, and many do not offer it:
such a mail would be accepted here and lost, or bounced, at a later hop. So it is refused where it is
typed, with a message next to the field. An internationalized domain name has an ASCII form (IDNA) that
every server takes, so it is accepted and stored in that form.
"""

from email_validator import EmailNotValidError, validate_email


class AddressError(ValueError):
    """Not an address mail can be sent to; .non_ascii_local_part when only the part before @ is at fault."""

    def __init__(self, reason: str, *, non_ascii_local_part: bool = False):
        super().__init__(reason)
        self.non_ascii_local_part = non_ascii_local_part


def sendable_address(text: str) -> str:
    """The address as it is stored and sent (the domain lower case, in punycode if internationalized);
    AddressError, with email-validator's reason, if it is not one."""
    local_part = text.rpartition("@")[0]
    if not local_part.isascii():
        raise AddressError(
            "the part before the @ must be ASCII: many mail servers cannot carry other characters",
            non_ascii_local_part=True,
        )
    try:
        result = validate_email(text, check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError as error:
        raise AddressError(str(error)) from None
    return result.ascii_email
