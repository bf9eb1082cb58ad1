"""POST over HTTPS with verified certificates, a deadline, and a host policy checked before connecting."""

import email.utils
import http.client
import socket
import ssl
import time
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

from ..smtp import hosts
from ..smtp.connection import Watchdog
from ..smtp.hosts import HostPolicy

# A token or Graph answer is a few kilobytes; anything far larger is not one.
MAX_ANSWER_BYTES = 1 << 20


class HttpsFailure(Exception):
    """No HTTP answer came: .kind is "not_https", "forbidden_host", "certificate", "timeout", ..."""

    def __init__(self, reason: str, *, kind: str, permanent: bool):
        super().__init__(reason)
        self.reason = reason
        self.kind = kind
        self.permanent = permanent


@dataclass(frozen=True)
class HttpsAnswer:
    """An HTTP answer: status, headers (lower-case names) and body."""

    status: int
    headers: dict[str, str]
    body: bytes

    def retry_after(self) -> int | None:
        """The Retry-After header in seconds from now (it may be seconds or an HTTP date), or None."""
        value = self.headers.get("retry-after", "").strip()
        if not value:
            return None
        if value.isdigit():
            return int(value)
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            return None
        return max(0, round(when.timestamp() - time.time()))


def https_url(url: str, *, allow_query: bool = True) -> SplitResult:
    """Split an https URL; raise HttpsFailure (kind "not_https") naming what is wrong with it."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except (ValueError, AttributeError):
        raise _not_https("not a valid URL") from None
    if parts.scheme.lower() != "https":
        raise _not_https("only https URLs are allowed")
    if not parts.hostname:
        raise _not_https("the URL has no host")
    if parts.username is not None or parts.password is not None:
        raise _not_https("the URL must not contain a user name or password")
    if parts.fragment:
        raise _not_https("the URL must not contain a fragment (#...)")
    if parts.query and not allow_query:
        raise _not_https("the URL must not contain a query (?...)")
    if port == 0:
        raise _not_https("port 0 is not a port")
    if any(ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in url):
        raise _not_https("the URL contains spaces or control characters")
    return parts


def _not_https(why: str) -> HttpsFailure:
    return HttpsFailure(why, kind="not_https", permanent=True)


class _Connection(http.client.HTTPSConnection):
    """An HTTPS connection to one checked address that verifies the certificate for the URL's host."""

    def __init__(self, host, port, address, context, timeout, deadline):
        super().__init__(host, port, timeout=timeout, context=context)
        self._address = address
        self._tls = context
        self._deadline = deadline

    def connect(self):
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self._deadline.watch(sock)
        self.sock = self._tls.wrap_socket(sock, server_hostname=self.host)


@dataclass(frozen=True)
class HttpsClient:
    """How to reach token endpoints and Graph: the trust, the time one request may take, the host policy.

    timeout covers the whole request: resolution, connection, TLS, sending and the full answer.
    host_policy, when given, judges every address the host resolves to before any connection is made
    (HostPolicy.refusal); one refused address refuses the host, and only the checked addresses are
    connected to.
    """

    context: ssl.SSLContext
    timeout: float = 10.0
    host_policy: HostPolicy | None = None

    def post(self, url: str, body: bytes, headers: dict[str, str]) -> HttpsAnswer:
        """POST body to an https URL and return the answer; raise HttpsFailure if there is none."""
        parts = https_url(url)
        host, port = parts.hostname, parts.port or 443
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        started = time.monotonic()
        deadline = Watchdog(started + self.timeout)
        try:
            addresses = self._addresses(host)
            last_error: Exception | None = None
            for address in addresses:
                connection = _Connection(
                    host, port, address, self.context, self._time_left(started), deadline
                )
                try:
                    try:
                        connection.connect()
                    except OSError as error:
                        if deadline.fired or isinstance(error, ssl.SSLError):
                            raise
                        last_error = error  # nothing was sent to this address: try the next one
                        continue
                    connection.request("POST", target, body=body, headers=headers)
                    response = connection.getresponse()
                    answer_headers = {name.lower(): value for name, value in response.getheaders()}
                    answer_body = response.read(MAX_ANSWER_BYTES + 1)
                    return HttpsAnswer(response.status, answer_headers, answer_body[:MAX_ANSWER_BYTES])
                finally:
                    connection.close()
            raise last_error or OSError(f"{host} has no addresses")
        except HttpsFailure:
            raise
        except ssl.SSLCertVerificationError as error:
            raise HttpsFailure(
                f"the certificate of {host} did not verify: {error.verify_message}",
                kind="certificate",
                permanent=True,
            ) from None
        except (OSError, http.client.HTTPException, ValueError) as error:
            if deadline.fired or isinstance(error, TimeoutError):
                raise HttpsFailure(
                    f"{host} did not answer within {self.timeout:g} s", kind="timeout", permanent=False
                ) from None
            kind = "tls" if isinstance(error, ssl.SSLError) else "connection"
            raise HttpsFailure(f"{host}: {_describe(error)}", kind=kind, permanent=False) from None
        finally:
            deadline.stop()

    def _addresses(self, host: str) -> list[str]:
        try:
            addresses = hosts.resolve(host, self.timeout)
        except TimeoutError:
            raise HttpsFailure(f"resolving {host} timed out", kind="timeout", permanent=False) from None
        except OSError as error:
            raise HttpsFailure(
                f"{host} could not be resolved: {_describe(error)}", kind="resolve", permanent=False
            ) from None
        if self.host_policy is not None:
            for address in addresses:
                reason = self.host_policy.refusal(host, address)
                if reason is None:
                    continue
                where = f"{host} is" if address == host else f"{host} resolves to {address},"
                raise HttpsFailure(
                    f"{where} {reason}; the operator may allow it with {hosts.ALLOW_SETTING}",
                    kind="forbidden_host",
                    permanent=True,
                )
        return addresses

    def _time_left(self, started: float) -> float:
        return max(0.001, self.timeout - (time.monotonic() - started))


def _describe(error: Exception) -> str:
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    return str(error) or type(error).__name__
