"""Which encryption goes with which port: the one table the save-time warning and the test-mail hint read.

465 is SMTP over TLS from the first byte (RFC 8314), 587 is submission with STARTTLS (RFC 6409), and
25 is relay, with STARTTLS or without encryption. Any other port is the administrator's choice.
"""

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from ..smtp.endpoint import ENCRYPTION_NONE, ENCRYPTION_SSL, ENCRYPTION_STARTTLS

USUAL_ENCRYPTIONS = {
    25: (ENCRYPTION_STARTTLS, ENCRYPTION_NONE),
    465: (ENCRYPTION_SSL,),
    587: (ENCRYPTION_STARTTLS,),
}
# The port the form proposes for each encryption.
DEFAULT_PORTS = {ENCRYPTION_NONE: 25, ENCRYPTION_SSL: 465, ENCRYPTION_STARTTLS: 587}

# "usually used with <these>", and "not <this>" for the one chosen.
_USUAL_WORDS = {
    ENCRYPTION_NONE: _l("no encryption"),
    ENCRYPTION_SSL: "SSL/TLS",
    ENCRYPTION_STARTTLS: "STARTTLS",
}
_CHOSEN_WORDS = {**_USUAL_WORDS, ENCRYPTION_NONE: _l("without encryption")}


def is_unusual(port: int, encryption: str) -> bool:
    """Whether the table says this port usually goes with another encryption."""
    return encryption not in USUAL_ENCRYPTIONS.get(port, (encryption,))


def _usual(port: int) -> str:
    return _(" or ").join(str(_USUAL_WORDS[encryption]) for encryption in USUAL_ENCRYPTIONS[port])


def port_warning(port: int, encryption: str) -> str | None:
    """The save-time warning for a pair that is usually a mistake."""
    if not is_unusual(port, encryption):
        return None
    return _(
        "Port %(port)d is usually used with %(usual)s, not %(chosen)s. Check that this is intended.",
        port=port,
        usual=_usual(port),
        chosen=str(_CHOSEN_WORDS[encryption]),
    )


def port_hint(port: int, encryption: str) -> str | None:
    """The test-mail hint for the same pairs, when the client and server disagreed about TLS."""
    if not is_unusual(port, encryption):
        return None
    return _("Port %(port)d usually expects %(usual)s.", port=port, usual=_usual(port))
