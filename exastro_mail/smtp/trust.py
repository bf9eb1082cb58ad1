"""The TLS client context every connection out uses (SMTP and HTTPS): verified, TLS 1.2 or newer.

Loading the system's CA store costs tens of milliseconds of CPU, on every test mail and delivery batch
when each made its own context, so contexts are kept and shared: an SSLContext serves many connections
and threads once set up, and none is changed after it is made here. An extra CA file is keyed by its
modification time and size, so a renewed file is read again without a restart.
"""

import functools
import os
import ssl


def trust_context(ca_file: str | None = None, ca_pem: str | None = None) -> ssl.SSLContext:
    """The system's trusted CAs plus an extra CA file and an organization's CA PEM.

    Raises OSError or ssl.SSLError (a ValueError for a PEM with no certificate) if they cannot be loaded.
    """
    stamp = None
    if ca_file:
        found = os.stat(ca_file)
        stamp = (found.st_mtime_ns, found.st_size)
    return _context(ca_file or None, stamp, ca_pem or None)


@functools.lru_cache(maxsize=64)
def _context(ca_file: str | None, _stamp, ca_pem: str | None) -> ssl.SSLContext:
    context = ssl.create_default_context()
    context.check_hostname = True
    context.verify_mode = ssl.CERT_REQUIRED
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if ca_file:
        context.load_verify_locations(cafile=ca_file)
    if ca_pem:
        context.load_verify_locations(cadata=ca_pem)
    return context
