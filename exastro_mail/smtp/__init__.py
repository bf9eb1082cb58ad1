"""Speaking SMTP, without Flask: delivery (transport), the test-mail diagnosis and the host policy."""

from .diagnose import Diagnosis, Step, diagnose
from .hosts import ForbiddenHost, check_host, forbidden_address
from .transport import (
    ENCRYPTION_NONE,
    ENCRYPTION_SSL,
    ENCRYPTION_STARTTLS,
    DeliveryError,
    SmtpEndpoint,
    SmtpSession,
    deliver,
    tls_context,
)

__all__ = [
    "ENCRYPTION_NONE",
    "ENCRYPTION_SSL",
    "ENCRYPTION_STARTTLS",
    "DeliveryError",
    "Diagnosis",
    "ForbiddenHost",
    "SmtpEndpoint",
    "SmtpSession",
    "Step",
    "check_host",
    "deliver",
    "diagnose",
    "forbidden_address",
    "tls_context",
]
