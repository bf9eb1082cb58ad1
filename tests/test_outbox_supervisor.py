"""serve's outbox worker is started again when it dies, less and less often if it keeps dying, and not
when it stopped cleanly (outbox/supervisor.py; the real serve in tests/test_worker_processes.py)."""

import logging
import re
import sys
import time

from exastro_mail.outbox.supervisor import SupervisedWorker


def started_again(caplog) -> list[float]:
    """The delays the supervisor waited before each new start, as it logged them."""
    delays = []
    for record in caplog.records:
        found = re.search(r"ended \(exit code 3\); starting it again in ([0-9.]+) s", record.getMessage())
        if found:
            delays.append(float(found.group(1)))
    return delays


def test_a_worker_that_keeps_dying_is_started_again_less_and_less_often(caplog):
    caplog.set_level(logging.INFO, logger="exastro_mail.serve")
    supervisor = SupervisedWorker([sys.executable, "-c", "raise SystemExit(3)"], 5, first_delay=0.05)
    deadline = time.monotonic() + 20
    while len(started_again(caplog)) < 4 and time.monotonic() < deadline:
        time.sleep(0.05)
    supervisor.stop()
    assert started_again(caplog)[:4] == [0.05, 0.1, 0.2, 0.4]
    count = len(started_again(caplog))
    time.sleep(1)
    assert len(started_again(caplog)) == count  # stopped: not started again


def test_a_worker_that_stopped_cleanly_is_not_started_again(caplog):
    caplog.set_level(logging.INFO, logger="exastro_mail.serve")
    supervisor = SupervisedWorker([sys.executable, "-c", "pass"], 5, first_delay=0.05)
    supervisor.process.wait(20)
    time.sleep(0.5)
    first = supervisor.process
    supervisor.stop()
    assert supervisor.process is first
    assert not [record for record in caplog.records if "starting it again" in record.getMessage()]


def test_stopping_ends_a_worker_that_ignores_the_request_in_time():
    stubborn = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(60)"
    supervisor = SupervisedWorker([sys.executable, "-c", stubborn], 0.5, first_delay=0.05)
    time.sleep(1)  # it has set its handler
    began = time.monotonic()
    supervisor.stop()
    assert time.monotonic() - began < 5
    assert supervisor.process.returncode == -9


def test_how_a_worker_ended_is_logged_when_someone_else_reaps_it_through_reap(caplog):
    # Under serve, gunicorn's arbiter calls reap() on SIGCHLD, racing the watching thread's waitid:
    # whichever is first, the log says how the worker ended.
    caplog.set_level(logging.INFO, logger="exastro_mail.serve")
    supervisor = SupervisedWorker([sys.executable, "-c", "import time; time.sleep(60)"], 5, first_delay=0.01)
    for _ in range(8):
        process = supervisor.process
        process.kill()
        while process.returncode is None:
            supervisor.reap()
        deadline = time.monotonic() + 10
        while supervisor.process is process and time.monotonic() < deadline:
            time.sleep(0.01)
    supervisor.stop()
    endings = [record.getMessage() for record in caplog.records if "ended" in record.getMessage()]
    assert len(endings) == 8
    assert all("(killed by SIGKILL)" in ending for ending in endings), endings
