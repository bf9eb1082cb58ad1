"""The mail message itself, built so that nothing anyone typed can become a header.

Every header value is text we encode ourselves (plain ASCII as it is, anything else as RFC 2047
encoded words) and is written out as it stands: the message uses the email package's compat32
policy, which never parses a header value. The modern policy parses each value it is given and
decodes the encoded words in it, and before the CVE-2024-6923 fix (Python 3.11.7 still lacks it) it
writes a decoded CR LF back out as a line break: a title such as =?utf-8?q?Hi=0D=0AX-Injected:_yes?=
became a header of its own. Here such a title is carried as the literal text it is.

Flask-free: the outbox and the test mail compose through it, and any transport (SMTP, Microsoft
Graph) sends what it makes.
"""

from .addresses import AddressError, sendable_address
from .compose import Mail, compose, message_bytes
from .headers import HeaderTextError, address_header, header_text, one_line

__all__ = [
    "AddressError",
    "HeaderTextError",
    "Mail",
    "address_header",
    "compose",
    "header_text",
    "message_bytes",
    "one_line",
    "sendable_address",
]
