"""When a failed mail is tried again: a permanent failure never, a transient one after a growing wait."""

import random

_MIN_RETRY_SECONDS = 0.01  # a zero base would retry in a tight loop forever


def retry_delay(attempts: int, *, base: float, cap: float, give_up: float, rng=random) -> float | None:
    """Seconds to wait after the attempts-th failed try (doubling from base up to cap, with jitter), or None.

    None means give up: the planned waits would pass give_up seconds. Counting by attempts, not by the
    clock, gives a mail its full budget even when the worker was down, and afresh after retry_now.
    """
    delay = max(float(base), _MIN_RETRY_SECONDS)
    waited = 0.0
    for _ in range(1, attempts):
        waited += min(delay, cap)
        delay = min(delay * 2, cap)
        if waited > give_up:
            return None
    delay = min(delay, cap)
    if waited + delay > give_up:
        return None
    return delay / 2 + rng.uniform(0, delay / 2)  # "equal jitter": workers that failed together spread out


def after_failure(
    attempts: int, reason: str, *, permanent: bool, config, retry_after: float | None = None
) -> tuple[float | None, str]:
    """How the attempts-th failed try ends: (seconds until the next one, reason), or (None, reason) when
    the mail has failed for good, with the OUTBOX_RETRY_* and OUTBOX_GIVE_UP_SECONDS settings. A
    server's Retry-After (retry_after seconds) lengthens the wait, never shortens it."""
    if permanent:
        return None, reason
    delay = retry_delay(
        attempts,
        base=float(config["OUTBOX_RETRY_BASE_SECONDS"]),
        cap=float(config["OUTBOX_RETRY_MAX_SECONDS"]),
        give_up=float(config["OUTBOX_GIVE_UP_SECONDS"]),
    )
    if delay is None:
        return None, f"gave up after {attempts} attempts: {reason}"
    return max(delay, float(retry_after or 0)), reason
