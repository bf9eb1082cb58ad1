"""The SMTP server host as the settings take it: a DNS name, IPv4 or IPv6, and the private-host policy."""

import ipaddress
import re
from collections.abc import Callable

import idna
from flask_babel import gettext as _

from ..smtp import hosts
from ..web.json_envelope import NOT_A_HOST, REQUIRED, TOO_LONG
from .checks import Invalid, text_value, too_long
from .fields import FIELDS

# How long the save-time check of EXASTRO_MAIL_SMTP_DENY_PRIVATE_HOSTS may wait for DNS.
RESOLVE_TIMEOUT_SECONDS = 5.0


def check_host(value) -> str:
    """An SMTP host: a DNS name (IDN stored as punycode), an IPv4 or an IPv6 address."""
    host = text_value(value, FIELDS["smtp_host"].label)
    if not host:
        raise Invalid(_("Enter the SMTP server host."), REQUIRED)
    too_long(host, FIELDS["smtp_host"])
    if "://" in host or re.match(r"(?i)smtps?:", host):
        raise Invalid(_("Enter the host name only, without a scheme such as smtp://."), NOT_A_HOST)
    if any(character.isspace() for character in host):
        raise Invalid(_("The host must not contain spaces."), NOT_A_HOST)
    if "/" in host or "@" in host:
        raise Invalid(_("Enter a host name or an IP address only, without a path or user."), NOT_A_HOST)
    literal = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    try:
        return ipaddress.ip_address(literal).compressed
    except ValueError:
        pass
    if ":" in host:
        raise Invalid(
            _("Enter the port in SMTP server port, not in the host (or enter a valid IPv6 address)."),
            NOT_A_HOST,
        )
    if re.fullmatch(r"[0-9.]+", host):
        raise Invalid(_("This is not a valid IPv4 address."), NOT_A_HOST)
    return _dns_name(host)


def _dns_name(host: str) -> str:
    name = host[:-1] if host.endswith(".") else host
    for label in name.split("."):
        if not label:
            raise Invalid(_("The host name has an empty part between dots."), NOT_A_HOST)
        if len(label) > 63:
            raise Invalid(
                _("Each part of the host name between dots may have 1 to 63 characters."), NOT_A_HOST
            )
        bad = sorted({c for c in label if not (c.isalnum() or c == "-")})
        if bad:
            raise Invalid(
                _(
                    "The host name may contain only letters, digits and hyphens; not allowed: %(characters)s",
                    characters=" ".join(bad),
                ),
                NOT_A_HOST,
            )
        if label.startswith("-") or label.endswith("-"):
            raise Invalid(_("A part of the host name must not begin or end with a hyphen."), NOT_A_HOST)
    try:
        ascii_name = idna.encode(name, uts46=True).decode("ascii")
    except idna.IDNAError as error:
        raise Invalid(
            _("This is not a valid internationalized host name: %(error)s.", error=error), NOT_A_HOST
        ) from None
    if len(ascii_name) > 253:
        raise Invalid(_("The host name is longer than 253 characters once encoded."), TOO_LONG, max=253)
    if any(len(label) > 63 for label in ascii_name.split(".")):
        raise Invalid(_("Each part of the host name between dots may have 1 to 63 characters."), NOT_A_HOST)
    return ascii_name.lower()


def check_public_host(host: str, policy: hosts.HostPolicy, resolve: Callable[[str], list[str]]) -> None:
    """A checked host the policy lets this install reach: by default, one that is not, and does not
    resolve to, a loopback, private, link-local, metadata or unspecified address. A name that does not
    resolve now passes: sending checks again after DNS."""
    if not policy.deny_private:
        return
    try:
        addresses = [ipaddress.ip_address(host.strip("[]")).compressed]
    except ValueError:
        try:
            addresses = resolve(host)
        except OSError:
            return
    for address in addresses:
        reason = policy.refusal(host, address)
        if reason:
            message = _refused(host, address, reason)
            # Exastro has no such rule: its code for a host it refuses, with this message in the API too.
            raise Invalid(message, NOT_A_HOST, summary=message)


def _refused(host: str, address: str, reason: str) -> str:
    if address == host:
        refused = _(
            "This installation only connects to public addresses: %(host)s is %(reason)s.",
            host=host,
            reason=reason,
        )
    else:
        refused = _(
            "This installation only connects to public addresses: "
            "%(host)s resolves to %(address)s, %(reason)s.",
            host=host,
            address=address,
            reason=reason,
        )
    way_out = _(
        "Its operator may allow this host with %(setting)s (host names, addresses or ranges such as "
        "10.0.0.0/8).",
        setting=hosts.ALLOW_SETTING,
    )
    return f"{refused} {way_out}"


def resolve_with_timeout(host: str) -> list[str]:
    """The host's addresses, waiting at most RESOLVE_TIMEOUT_SECONDS."""
    return hosts.resolve(host, timeout=RESOLVE_TIMEOUT_SECONDS)


def unicode_form(name: str | None) -> str | None:
    """The Unicode form of a stored host name (or of an address's domain) that has punycode labels;
    None when it has none, so there is nothing else to show."""
    if not name or "xn--" not in name.lower():
        return None
    local, at, domain = name.rpartition("@")
    try:
        shown = idna.decode(domain)
    except (idna.IDNAError, UnicodeError):
        return None
    return f"{local}{at}{shown}"
