"""Which addresses an SMTP connection (or a token or Graph request) may reach: the install's host policy."""

import ipaddress
import socket
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

# Checked in order, so the narrower ranges name the reason before the wider ones.
_FORBIDDEN_NETWORKS = [
    (ipaddress.ip_network(network), reason)
    for network, reason in [
        ("169.254.169.254/32", "a link-local cloud metadata address (169.254.169.254)"),
        ("fd00:ec2::254/128", "a private cloud metadata address (fd00:ec2::254)"),
        ("0.0.0.0/8", "an unspecified address (0.0.0.0/8)"),
        ("10.0.0.0/8", "a private address (10.0.0.0/8)"),
        ("100.64.0.0/10", "a carrier-grade NAT address (100.64.0.0/10)"),
        ("127.0.0.0/8", "a loopback address (127.0.0.0/8)"),
        ("169.254.0.0/16", "a link-local address (169.254.0.0/16, includes cloud metadata)"),
        ("172.16.0.0/12", "a private address (172.16.0.0/12)"),
        ("192.0.0.0/24", "a reserved address (192.0.0.0/24)"),
        ("192.168.0.0/16", "a private address (192.168.0.0/16)"),
        ("198.18.0.0/15", "a reserved address (198.18.0.0/15)"),
        ("224.0.0.0/4", "a multicast address (224.0.0.0/4)"),
        ("240.0.0.0/4", "a reserved address (240.0.0.0/4)"),
        ("::/128", "an unspecified address (::)"),
        ("::1/128", "a loopback address (::1)"),
        ("fc00::/7", "a private address (fc00::/7)"),
        ("fe80::/10", "a link-local address (fe80::/10)"),
        ("fec0::/10", "a site-local address (fec0::/10)"),
        ("ff00::/8", "a multicast address (ff00::/8)"),
        ("::/8", "a reserved address (::/8)"),
    ]
]

# IPv6 ranges that carry an IPv4 address inside them; the IPv4 address decides.
_NAT64 = ipaddress.ip_network("64:ff9b::/96")

# getaddrinfo cannot be interrupted, so lookups with a time limit run here and are abandoned when late.
_resolver = ThreadPoolExecutor(max_workers=4, thread_name_prefix="smtp-resolve")


class ForbiddenHost(ValueError):
    """The host is, or resolves to, an address SMTP connections must not reach."""


def forbidden_address(ip: str) -> str | None:
    """Return why an SMTP connection must not reach this IP address, or None if it is public."""
    address = ipaddress.ip_address(ip.partition("%")[0])
    if isinstance(address, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            reason = forbidden_address(str(embedded))
            return f"{reason}, inside {address}" if reason else None
    for network, reason in _FORBIDDEN_NETWORKS:
        if address.version == network.version and address in network:
            return reason
    if not address.is_global:
        return "not a public address"
    return None


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def resolve(host: str, timeout: float | None = None) -> list[str]:
    """Return the addresses host resolves to, in the resolver's order; raise OSError if it does not."""
    try:
        ipaddress.ip_address(host.partition("%")[0])
    except ValueError:
        pass
    else:
        return [host]
    if timeout is None:
        return _lookup(host)
    lookup = _resolver.submit(_lookup, host)
    try:
        return lookup.result(timeout)
    except TimeoutError:
        lookup.cancel()
        raise TimeoutError(f"resolving {host} timed out") from None


def _lookup(host: str) -> list[str]:
    infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(info[4][0] for info in infos))


# The way out, named in every refusal: the operator may allow a relay by name, address or range.
ALLOW_SETTING = "EXASTRO_MAIL_SMTP_ALLOWED_HOSTS"


@dataclass(frozen=True)
class HostPolicy:
    """Which hosts this install may connect to: public addresses only (deny_private), except the host
    names and networks the operator allowed; with deny_private False, every host."""

    deny_private: bool = True
    allowed_names: frozenset[str] = frozenset()
    allowed_networks: tuple = ()  # ipaddress networks

    @classmethod
    def allowing(cls, entries, *, deny_private: bool = True) -> "HostPolicy":
        """The policy allowing these entries (host names, IP addresses or CIDR ranges, checked by
        config.py); raise ValueError for an entry that is none of them."""
        names, networks = set(), []
        for entry in entries:
            try:
                networks.append(ipaddress.ip_network(entry))
            except ValueError:
                if not entry or "/" in entry or ":" in entry:
                    raise
                names.add(_name(entry))
        return cls(deny_private, frozenset(names), tuple(networks))

    def refusal(self, host: str, address: str) -> str | None:
        """Why host, resolved to address, must not be reached; None if it may."""
        if not self.deny_private or _name(host) in self.allowed_names:
            return None
        ip = ipaddress.ip_address(address.partition("%")[0])
        candidates = [ip]
        if isinstance(ip, ipaddress.IPv6Address) and _embedded_ipv4(ip) is not None:
            candidates.append(_embedded_ipv4(ip))
        if any(candidate in network for candidate in candidates for network in self.allowed_networks):
            return None
        return forbidden_address(address)

    def check(self, host: str, timeout: float | None = None) -> list[str]:
        """Resolve host and return its addresses; raise ForbiddenHost if the policy refuses one of them."""
        addresses = resolve(host, timeout)
        for address in addresses:
            reason = self.refusal(host, address)
            if reason is None:
                continue
            where = f"{host} is" if address == host else f"{host} resolves to {address},"
            raise ForbiddenHost(f"{where} {reason}; the operator may allow it with {ALLOW_SETTING}.")
        return addresses


def _name(host: str) -> str:
    return host.strip("[]").rstrip(".").lower()
