"""Mail addresses in the log tables, breakable where a reader expects: after the @ and after each dot."""

import re

from markupsafe import Markup, escape

_BREAK_AFTER = re.compile(r"([@.])")


def breakable(value) -> Markup:
    """The text, escaped, with a <wbr> after each @ and dot, so a narrow cell wraps admin@ / example.com
    rather than admin@example.c / om (logs.css stops the table breaking inside the parts)."""
    parts = _BREAK_AFTER.split(str(value or ""))
    return Markup("").join(escape(part) + (Markup("<wbr>") if part in ("@", ".") else "") for part in parts)
