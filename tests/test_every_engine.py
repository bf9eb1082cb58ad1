"""tests/every_engine.py ends a run that overruns its deadline, with every process the run started, and
what a finished run left behind: a hang reports itself instead of holding CI until its own limit."""

import subprocess
import time
from pathlib import Path

from tests import every_engine


def running(pid: int) -> bool:
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"


def gone_soon(pid: int) -> bool:
    """Whether the process has stopped running within 5 s (a killed one ends at once)."""
    deadline = time.monotonic() + 5
    while running(pid) and time.monotonic() < deadline:
        time.sleep(0.02)
    return not running(pid)


def test_a_run_past_its_deadline_is_ended_with_what_it_started():
    run = subprocess.Popen(
        ["sh", "-c", "sleep 60 & echo $!; wait"], stdout=subprocess.PIPE, text=True, start_new_session=True
    )
    child = int(run.stdout.readline())
    run.stdout.close()
    began = time.monotonic()
    assert every_engine.finish(run, time.monotonic() + 0.3) is None
    assert 0.3 <= time.monotonic() - began < 5
    every_engine.end_group(run)
    assert run.returncode == -9
    assert gone_soon(child)


def test_a_run_that_ended_gives_its_code_and_what_it_left_running_is_ended():
    run = subprocess.Popen(
        ["sh", "-c", "sleep 60 & echo $!; exit 3"], stdout=subprocess.PIPE, text=True, start_new_session=True
    )
    orphan = int(run.stdout.readline())
    run.stdout.close()
    assert every_engine.finish(run, time.monotonic() + 20) == 3
    assert running(orphan)
    every_engine.end_group(run)
    assert gone_soon(orphan)
