"""`serve`'s outbox worker: a child process, started again whenever it dies while the server runs.

gunicorn replaces a web worker that dies; the outbox worker needs the same, or one killed by the OOM
killer or a crash leaves every page answering and every mail queued until someone restarts `serve`.
A worker that keeps dying is started again less and less often (1 s, doubling up to a minute), so a
broken install does not spin. One that stopped cleanly (exit code 0: it was asked to, by SIGTERM or
Ctrl+C, or its server is gone) is not started again.

gunicorn's arbiter reaps every child of the process it runs in, this one included. The watching thread
reads the status without reaping (waitid with WNOWAIT); when the arbiter is quicker, it has called
reap() first (web/gunicorn_server.py), which keeps the status in the Popen.
"""

import logging
import os
import signal
import subprocess  # nosec B404  # starts only our own outbox worker, with a fixed command
import threading
import time

log = logging.getLogger("exastro_mail.serve")

FIRST_DELAY_SECONDS = 1.0
MAX_DELAY_SECONDS = 60.0
# A worker that ran this long was healthy: if it dies after that, it is started again at once.
HEALTHY_SECONDS = 60.0
# How long the watching thread, finding the worker reaped, waits for reap() to record how it ended.
REAPED_WAIT_SECONDS = 1.0


class SupervisedWorker:
    """The outbox worker process of a server, started at once and again each time it dies."""

    def __init__(self, command: list[str], stop_seconds: float, *, first_delay: float = FIRST_DELAY_SECONDS):
        self.command = command
        self.stop_seconds = stop_seconds
        self.first_delay = first_delay
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self.process = self._start()
        threading.Thread(target=self._watch, name="outbox-worker-watch", daemon=True).start()

    def _start(self) -> subprocess.Popen:
        return subprocess.Popen(self.command)  # noqa: S603  # nosec B603  # our own command

    def _watch(self) -> None:
        delay = self.first_delay
        while True:
            process, started = self.process, time.monotonic()
            how = _wait_for_end(process)
            process.poll()  # reaped, unless reap() was first
            if self._stopping.is_set() or how == "exit code 0":
                return
            if time.monotonic() - started >= HEALTHY_SECONDS:
                delay = self.first_delay
            log.error(
                "the outbox worker (pid %d) ended (%s); starting it again in %g s", process.pid, how, delay
            )
            if self._stopping.wait(delay):
                return
            with self._lock:
                if self._stopping.is_set():
                    return
                self.process = self._start()
            log.info("the outbox worker was started again (pid %d)", self.process.pid)
            delay = min(delay * 2, MAX_DELAY_SECONDS)

    def reap(self) -> None:
        """Reap the worker if it has ended, keeping how it ended (for gunicorn's arbiter, which would
        otherwise reap it without a word)."""
        self.process.poll()

    def stop(self) -> None:
        """Ask the worker to finish the message in hand and stop; kill it if it does not in time."""
        with self._lock:
            self._stopping.set()
            process = self.process
        if process.poll() is None:
            process.terminate()
        try:
            process.wait(self.stop_seconds)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_for_end(process: subprocess.Popen) -> str:
    """Wait until the process ends, without reaping it; how it ended ("exit code N", "killed by X")."""
    try:
        ended = os.waitid(os.P_PID, process.pid, os.WEXITED | os.WNOWAIT)
    except ChildProcessError:  # reaped already: by reap() (from gunicorn's arbiter), or by stop()
        # poll() takes Popen's lock and only then records the status: it may still be on its way.
        deadline = time.monotonic() + REAPED_WAIT_SECONDS
        while process.returncode is None and time.monotonic() < deadline:
            time.sleep(0.01)
        return "exit status unknown" if process.returncode is None else _described(process.returncode)
    return _described(ended.si_status if ended.si_code == os.CLD_EXITED else -ended.si_status)


def _described(returncode: int) -> str:
    """A return code as Popen gives it (negative: the signal that killed it) in words."""
    if returncode >= 0:
        return f"exit code {returncode}"
    try:
        return f"killed by {signal.Signals(-returncode).name}"
    except ValueError:
        return f"killed by signal {-returncode}"
