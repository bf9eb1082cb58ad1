"""A hint's conditions: which failures of a delivery (smtp/'s facts) a piece of advice fits."""

from dataclasses import dataclass

from ..smtp.endpoint import SmtpEndpoint
from ..smtp.errors import DeliveryError


@dataclass(frozen=True)
class Hint:
    """Advice for the failures that match every condition given (None: any)."""

    advice: object  # a lazy string with %(host)s and %(port)s, or a function of the endpoint
    kinds: tuple[str, ...] | None = None
    steps: tuple[str, ...] | None = None
    encryptions: tuple[str, ...] | None = None
    permanent: bool | None = None
    smtp_code: int | None = None
    enhanced_class: str | None = None  # the start of the reply's enhanced status code, such as "5.7."
    offered: str | None = None  # an extension the server offered in its last EHLO reply ("auth")
    authenticated: bool | None = None  # whether the settings use AUTH
    provider_codes: tuple[str, ...] | None = None  # AADSTS7000215, unauthorized_client, ErrorAccessDenied
    http_statuses: tuple[int, ...] | None = None
    reply_contains: tuple[str, ...] | None = None  # any of these in the reply (enhanced codes: 5.7.139)

    def matches(self, endpoint: SmtpEndpoint, error: DeliveryError) -> bool:
        """Whether this failure meets every condition."""
        wanted = (
            (self.kinds, error.kind),
            (self.steps, error.step),
            (self.encryptions, endpoint.encryption),
            (self.provider_codes, error.provider_code),
            (self.http_statuses, error.http_status),
        )
        if any(allowed is not None and value not in allowed for allowed, value in wanted):
            return False
        if self.reply_contains is not None and not any(part in error.reason for part in self.reply_contains):
            return False
        return all(
            (
                self.permanent is None or error.permanent == self.permanent,
                self.smtp_code is None or error.smtp_code == self.smtp_code,
                self.enhanced_class is None or (error.enhanced_code or "").startswith(self.enhanced_class),
                self.offered is None or self.offered in error.extensions,
                self.authenticated is None or bool(endpoint.username) == self.authenticated,
            )
        )

    def text(self, endpoint: SmtpEndpoint) -> str | None:
        """The advice in the request's language."""
        if callable(self.advice):
            return self.advice(endpoint)
        return str(self.advice) % {"host": endpoint.host, "port": endpoint.port}
