"""Header values from hostile text: control characters refused, the rest made plain ASCII."""

import re
from email.header import Header

# An addr-spec as it may stand in a header: printable ASCII, no space, no angle brackets, one @.
_ADDR_SPEC = re.compile(r"[!#-;=?-~]+@[!#-;=?-~]+")
# RFC 5322 specials: a display name holding one of them must be quoted.
_SPECIALS = set('()<>[]:;@\\,."')
# UTF-8 in the shorter of Q and base64 encoded words: a Japanese name stays one encoded word (readers
# differ in how they join several inside a display name).
_UTF8 = "utf-8"


class HeaderTextError(ValueError):
    """Text that cannot stand in a header (a control character, an address that is not one)."""


def _checked(text: str, what: str) -> str:
    if any(ord(char) < 32 or ord(char) == 127 for char in text):
        raise HeaderTextError(f"the {what} holds a line break or another control character")
    return text


def one_line(text: str | None) -> str:
    """Text with every control character (CR and LF included) turned into a space, trimmed."""
    if not text:
        return ""
    return "".join(" " if ord(char) < 32 or ord(char) == 127 else char for char in text).strip()


def _needs_encoding(text: str) -> bool:
    # "=?" would be read as the start of an encoded word by whoever decodes the header.
    return not text.isascii() or "=?" in text or "?=" in text


def header_text(text: str, what: str = "header") -> str:
    """A header value carrying exactly this text: as it is when it is plain ASCII, else encoded words."""
    _checked(text, what)
    if not _needs_encoding(text):
        return text
    return Header(text, _UTF8, header_name="Subject").encode()


def address_header(addr_spec: str, display_name: str | None = None) -> str:
    """`Name <addr>` (or a bare addr) for From, Reply-To, To and Cc; the name encoded or quoted as needed."""
    _checked(addr_spec, "address")
    if not _ADDR_SPEC.fullmatch(addr_spec) or addr_spec.count("@") != 1 or "=?" in addr_spec:
        raise HeaderTextError(f"{addr_spec!r} is not an address that can stand in a header")
    if not display_name:
        return addr_spec
    _checked(display_name, "display name")
    if _needs_encoding(display_name):
        name = Header(display_name, _UTF8, header_name="From").encode()
    elif _SPECIALS & set(display_name):
        name = '"' + display_name.replace("\\", "\\\\").replace('"', '\\"') + '"'
    else:
        name = display_name
    return f"{name} <{addr_spec}>"
