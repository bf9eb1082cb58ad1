"""Tasks the outbox worker runs between claims, each every so many seconds (see worker.periodic_tasks)."""

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

log = logging.getLogger(__name__)


@dataclass
class _Task:
    name: str
    seconds: float
    run: Callable[[], object]
    next_at: float
    failing: str | None = None


class Periodic:
    """Runs each task once its interval has passed; a failure is logged (once while it repeats) and the
    task is tried again at its next turn, so no task can end the worker."""

    def __init__(self, clock=time.monotonic):
        self._clock = clock
        self._tasks: list[_Task] = []

    def every(self, seconds: float, name: str, run: Callable[[], object]) -> None:
        self._tasks.append(_Task(name, float(seconds), run, self._clock() + float(seconds)))

    def seconds_to_next(self) -> float:
        """How long until a task is due (a long time with none)."""
        if not self._tasks:
            return 3600.0
        return max(0.0, min(task.next_at for task in self._tasks) - self._clock())

    def run_due(self) -> None:
        for task in self._tasks:
            now = self._clock()
            if now < task.next_at:
                continue
            task.next_at = now + task.seconds
            try:
                task.run()
            except Exception as error:
                if repr(error) != task.failing:
                    log.warning(
                        "the outbox worker's %s failed (%s); trying again in %g s",
                        task.name,
                        error,
                        task.seconds,
                    )
                task.failing = repr(error)
            else:
                task.failing = None
