"""The bookkeeping of an SMTP session's steps: what went wrong at which step, as a DeliveryError that
never holds the password, and how much time the session has left before its deadline."""

import contextlib
import smtplib
import time
from collections.abc import Callable
from email.errors import MessageError

from . import hosts
from .connection import Client, Watchdog
from .endpoint import SmtpEndpoint
from .errors import (
    AT_A_COMMAND_BOUNDARY,
    NOT_SMTP_REASON,
    STEP_LABELS,
    DeliveryError,
    classify,
    is_smtp_reply,
    text,
)


class SessionSteps:
    """The state the steps share (the endpoint, the client, the deadline and its watchdog), and how
    each step reports success and turns a failure into a DeliveryError; SmtpSession speaks SMTP on it."""

    def __init__(
        self, endpoint: SmtpEndpoint, deadline: float | None, on_step: Callable[[str, str], None] | None
    ):
        self.endpoint = endpoint
        self.deadline = deadline
        self._on_step = on_step
        self._client: Client | None = None
        self._watchdog = Watchdog(None)
        self._started = time.monotonic()
        # False once the conversation is out of step (a timeout, a broken TLS handshake, a dropped
        # connection): QUIT would then only wait for a reply that never comes.
        self._in_step = True

    def _expect(self, step: str, code: int, reply: bytes) -> str:
        if code not in (250, 251):
            raise self._reply_error(step, code, reply)
        return f"{code} {text(reply)}"

    def _reply_error(self, step: str, code: int, reply: bytes, label: str | None = None) -> DeliveryError:
        if not is_smtp_reply(code):
            return self._error(NOT_SMTP_REASON, permanent=True, step=step, kind="not_smtp")
        if code == 421 and self._client is not None:
            self._client.close()
        return self._error(
            f"{code} {text(reply)} ({label or STEP_LABELS[step]})",
            permanent=not 400 <= code < 500,
            step=step,
            smtp_code=code,
        )

    @contextlib.contextmanager
    def _step(self, step: str, label: str | None = None):
        """Turn whatever goes wrong inside into a DeliveryError for this step."""
        try:
            yield
        except DeliveryError:
            raise
        except (smtplib.SMTPException, OSError, ValueError, MessageError) as error:
            raise self._failure(step, label or STEP_LABELS[step], error) from error

    def _failure(self, step: str, label: str, error: Exception) -> DeliveryError:
        endpoint = self.endpoint
        if self._deadline_passed():
            return self._error(
                f"timed out after {self._deadline_seconds():g} s (deadline)",
                permanent=False,
                step=step,
                kind="timeout",
            )
        if isinstance(error, hosts.ForbiddenHost):
            return self._error(str(error), permanent=True, step=step, kind="forbidden_host")
        if isinstance(error, smtplib.SMTPResponseException):
            failure = self._reply_error(step, error.smtp_code, error.smtp_error, label=label)
            if isinstance(error, smtplib.SMTPAuthenticationError):
                oauth = self.endpoint.bearer is not None and error.smtp_code == 535
                failure.kind = "xoauth2_rejected" if oauth else "auth_rejected"
            return failure
        return self._error(**classify(error, step, label, endpoint))

    def _error(self, reason: str, **details) -> DeliveryError:
        password = self.endpoint.password
        if password:
            reason = reason.replace(password, "********")
        offered = frozenset(self._client.esmtp_features) if self._client is not None else frozenset()
        error = DeliveryError(reason, extensions=offered, **details)
        if error.kind not in AT_A_COMMAND_BOUNDARY:
            self._in_step = False
        return error

    def _report(self, step: str, detail: str) -> None:
        if self._on_step is not None:
            self._on_step(step, detail)

    def _time_left(self) -> float:
        """How long the next blocking call may take: the timeout, cut short by the deadline."""
        if self.deadline is None:
            return self.endpoint.timeout
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("deadline passed")
        return min(self.endpoint.timeout, left)

    def _deadline_passed(self) -> bool:
        return self._watchdog.fired or (self.deadline is not None and time.monotonic() >= self.deadline)

    def _deadline_seconds(self) -> float:
        return round(self.deadline - self._started, 1)
