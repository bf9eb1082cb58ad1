"""Where and how to connect to an SMTP server, and the TLS it insists on: always verified, 1.2 or newer."""

import functools
import ipaddress
import socket
import ssl
from dataclasses import dataclass, field

from .hosts import HostPolicy
from .trust import trust_context

ENCRYPTION_NONE, ENCRYPTION_SSL, ENCRYPTION_STARTTLS = "none", "ssl", "starttls"
ENCRYPTIONS = (ENCRYPTION_NONE, ENCRYPTION_SSL, ENCRYPTION_STARTTLS)


@dataclass(frozen=True)
class SmtpEndpoint:
    """Where and how to connect: host, port, encryption, credentials and what to trust."""

    host: str
    port: int
    encryption: str
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    timeout: float = 10.0
    ca_file: str | None = None
    ca_pem: str | None = None
    host_policy: HostPolicy | None = None  # None: any host (tests of the transport itself)
    ehlo_name: str | None = None  # the name this client gives in EHLO; default_ehlo_name() if None
    # OAuth 2.0 (oauth.delivery.Bearer): AUTH XOAUTH2 with its token instead of the password.
    bearer: object | None = field(default=None, repr=False)
    # Microsoft Graph's base URL: send through Graph sendMail (host and port are then Graph's).
    graph_url: str | None = None

    def __post_init__(self):
        if self.encryption not in ENCRYPTIONS:
            raise ValueError(f"encryption must be one of {', '.join(ENCRYPTIONS)}, not {self.encryption!r}")


def tls_context(endpoint: SmtpEndpoint) -> ssl.SSLContext:
    """A client TLS context that verifies the server's certificate and host name, TLS 1.2 or newer."""
    return trust_context(endpoint.ca_file, endpoint.ca_pem)


@functools.cache
def default_ehlo_name() -> str:
    """This machine's fully qualified name, looked up once: getfqdn() can take seconds where reverse
    DNS is slow, and no deadline covers it."""
    try:
        return ehlo_name_for(socket.getfqdn())
    except UnicodeError:  # a name IDNA cannot encode (an empty label, say): the short host name
        return socket.gethostname()


def ehlo_name_for(host: str) -> str:
    """A host (a DNS name, possibly internationalized, or an IP address) as EHLO carries it: an ASCII
    name, or an address literal such as [192.0.2.1] or [IPv6:2001:db8::1]."""
    host = host.strip("[]")
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host.encode("idna").decode("ascii")
    return f"[IPv6:{address}]" if address.version == 6 else f"[{address}]"
