"""The states an outbox message goes through, and what each allows."""

QUEUED = "queued"  # waiting for its next attempt (next_attempt_at)
SENDING = "sending"  # claimed by a worker until lease_until; reclaimed after that if the worker died
SENT = "sent"  # the server took it
FAILED = "failed"  # the server refused it for good, or retrying gave up; last_error says why
EXPIRED = "expired"  # a reset mail whose link stopped working before it could be sent
DISCARDED = "discarded"  # an operator dropped it before it was sent

ALL = (QUEUED, SENDING, SENT, FAILED, EXPIRED, DISCARDED)
FINAL = (SENT, FAILED, EXPIRED, DISCARDED)
# What an operator may retry or discard: nothing a worker holds, nothing already done.
OPERATOR_ACTIONABLE = (QUEUED, FAILED)
