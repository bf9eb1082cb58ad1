"""The test mail's step details in the reader's language.

smtp/ and oauth/ describe each step in English (they are Flask-free, and the audit log keeps English);
the known shapes are matched here and said again through gettext. The server's own words (greeting,
replies) and technical values (addresses, TLS versions, extension names) are kept as they are.
"""

import re

from flask_babel import gettext as _

from ..i18n import N_

# (the English shape, the msgid that says it again with the same named parts)
_SHAPES = (
    (
        r"connected to (?P<address>\S+) port (?P<port>\d+) in (?P<ms>\d+) ms",
        N_("connected to %(address)s port %(port)s in %(ms)s ms"),
    ),
    (r"message sent \((?P<size>\d+) bytes\)", N_("message sent (%(size)s bytes)")),
    (
        r"greeting (?P<greeting>.*?); extensions: (?P<extensions>.*)",
        N_("greeting %(greeting)s; extensions: %(extensions)s"),
    ),
    (
        r"(?P<starttls>STARTTLS, )?(?P<version>\S+), certificate for (?P<names>.*) issued by (?P<issuer>.*), "
        r"verified",
        N_("%(starttls)s%(version)s, certificate for %(names)s issued by %(issuer)s, verified"),
    ),
    (r"accepted for (?P<user>.*) with (?P<mechanism>\S+)", N_("accepted for %(user)s with %(mechanism)s")),
    (r"XOAUTH2 accepted for (?P<mailbox>.*)", N_("XOAUTH2 accepted for %(mailbox)s")),
    (
        r"asked (?P<url>\S+) for a token: got one, valid (?P<minutes>\d+) min",
        N_("asked %(url)s for a token: got one, valid %(minutes)s min"),
    ),
    (
        r"a token from (?P<url>\S+), obtained earlier, valid (?P<minutes>\d+) min more",
        N_("a token from %(url)s, obtained earlier, valid %(minutes)s min more"),
    ),
    (r"timed out after (?P<seconds>[\d.]+) s \(deadline\)", N_("timed out after %(seconds)s s (deadline)")),
)
_COMPILED = tuple((re.compile(pattern, re.DOTALL), msgid) for pattern, msgid in _SHAPES)


def shown_step_detail(detail: str | None) -> str:
    """A step's English detail in the request's language where its shape is known; else as it is."""
    if not detail:
        return ""
    for pattern, msgid in _COMPILED:
        match = pattern.fullmatch(detail)
        if match:
            parts = {name: value or "" for name, value in match.groupdict().items()}
            if "extensions" in parts and parts["extensions"] == "none":
                parts["extensions"] = _("none")
            return _(msgid, **parts)
    return detail
