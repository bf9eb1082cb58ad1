"""One log line for a run of like errors: the first at once, then at most one per interval with how
many came since. A database outage would otherwise write a line for every request it fails."""

import threading
import time


class ThrottledLog:
    """Log the first error of a kind at once, then one line per interval with the count in between."""

    def __init__(self, logger, interval_seconds: float):
        self.logger = logger
        self.interval = interval_seconds
        self._lock = threading.Lock()
        self._runs: dict[str, tuple[float, int]] = {}  # kind -> (when last logged, how many since)

    def error(self, kind: str, message: str, *args) -> None:
        """Log message (with %-args) unless a line of this kind was logged less than interval ago."""
        now = time.monotonic()
        with self._lock:
            logged_at, since = self._runs.get(kind, (None, 0))
            if logged_at is not None and now - logged_at < self.interval:
                self._runs[kind] = (logged_at, since + 1)
                return
            self._runs[kind] = (now, 0)
        if logged_at is None or since == 0:
            self.logger.error(
                f"{message} (repeats are counted, one line per %g s)", *args, self.interval, stacklevel=2
            )
        else:
            self.logger.error(
                f"{message} (%d more like it in the %.0f s since the last line)",
                *args,
                since,
                now - logged_at,
                stacklevel=2,
            )
