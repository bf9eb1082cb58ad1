"""Counting in Redis, falling back to each process's memory while Redis is down, and back again."""

import logging
import os
import shutil
import socket
import subprocess
import time
from datetime import timedelta

import pytest
from limits import parse

from exastro_mail.store.models import RateLimitWindow, utcnow
from exastro_mail.web import rate_limits
from exastro_mail.web.rate_limits import RateLimits
from tests.ports import free_port

LIMIT = "3 per minute"


class RedisServer:
    """A redis-server of the test's own on a free port, to stop and start again."""

    def __init__(self):
        self.port = free_port()
        self.process = None

    def start(self):
        binary = shutil.which("redis-server")
        if binary is None:
            if os.environ.get("CI"):
                pytest.fail("redis-server is needed in CI")
            pytest.skip("redis-server is not installed")
        self.process = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise AssertionError("redis-server did not start")

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)


@pytest.fixture
def redis_server():
    server = RedisServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def counters():
    """RateLimits made by the test, closed at its end."""
    made = []

    def make(url, prefix):
        made.append(RateLimits(url, prefix))
        return made[-1]

    yield make
    for limits in made:
        limits.close()


def test_counts_live_in_redis_so_a_second_process_sees_them(redis_server, counters):
    url = f"redis://127.0.0.1:{redis_server.port}"
    first, second = counters(url, "install-a"), counters(url, "install-a")
    other_install = counters(url, "install-b")
    assert [first.hit(LIMIT, "login", "203.0.113.7") for _ in range(2)] == [True, True]
    assert second.hit(LIMIT, "login", "203.0.113.7")
    assert not second.within(LIMIT, "login", "203.0.113.7")
    assert not first.hit(LIMIT, "login", "203.0.113.7")
    assert first.hit(LIMIT, "login", "198.51.100.4")  # another client
    assert other_install.hit(LIMIT, "login", "203.0.113.7")  # another install on the same Redis
    assert 1 <= first.seconds_left(LIMIT, "login", "203.0.113.7") <= 60


def test_while_redis_is_down_each_process_counts_alone_and_then_goes_back(
    redis_server, counters, caplog, monkeypatch
):
    url = f"redis://127.0.0.1:{redis_server.port}"
    limits = counters(url, "install-a")
    assert limits.hit(LIMIT, "login", "203.0.113.7")
    redis_server.stop()
    with caplog.at_level(logging.WARNING, logger=rate_limits.__name__):
        # Down: counted in memory from zero, still limited, and said once.
        assert [limits.hit(LIMIT, "login", "203.0.113.7") for _ in range(4)] == [True, True, True, False]
    told = [record.getMessage() for record in caplog.records]
    assert len(told) == 1 and told[0].startswith("Rate limit storage unreachable")
    redis_server.start()  # it kept nothing (no persistence): the counting starts again there
    monkeypatch.setattr(rate_limits, "RETRY_STORAGE_SECONDS", 0)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger=rate_limits.__name__):
        assert [limits.hit(LIMIT, "login", "203.0.113.7") for _ in range(3)] == [True, True, True]
    assert [record.getMessage() for record in caplog.records] == [
        "Rate limit storage answers again; counting there again"
    ]
    another_process = counters(url, "install-a")
    assert not another_process.within(LIMIT, "login", "203.0.113.7")  # the counts are in Redis again


def test_counts_in_the_database_are_seen_by_every_process_of_the_install(app, monkeypatch):
    # Two RateLimits on one database stand for two worker processes.
    first, second = RateLimits("database://", "install-a"), RateLimits("database://", "install-a")
    other_install = RateLimits("database://", "install-b")
    with app.app_context():
        assert [first.hit(LIMIT, "login", "203.0.113.7") for _ in range(2)] == [True, True]
        assert second.hit(LIMIT, "login", "203.0.113.7")
        assert not second.within(LIMIT, "login", "203.0.113.7")
        assert not first.hit(LIMIT, "login", "203.0.113.7")
        assert first.hit(LIMIT, "login", "198.51.100.4")  # another client
        assert first.hit(LIMIT, "forgot-password", "203.0.113.7")  # another limit
        assert other_install.hit(LIMIT, "login", "203.0.113.7")
        assert 1 <= first.seconds_left(LIMIT, "login", "203.0.113.7") <= 61

        windows = RateLimitWindow.select().count()
        RateLimitWindow.update(ends_at=utcnow() - timedelta(minutes=2)).execute()  # all ended long ago
        monkeypatch.setattr(rate_limits, "FORGET_ENDED_WINDOWS_SECONDS", 0)
        assert second.hit(LIMIT, "login", "192.0.2.1")  # counts, then forgets the windows that ended
        assert windows == 4 and RateLimitWindow.select().count() == 1


def test_a_database_window_starts_at_a_clients_first_hit_and_the_next_once_it_ended(app):
    # 10 s before a multiple of 5 minutes: a window aligned to the clock would end, and count from zero.
    started = 1_000_000_190.0
    clock = [started]
    windows = rate_limits.DatabaseWindows(clock=lambda: clock[0])
    item, who = parse("3 per 5 minutes"), ("install-a", "login", "203.0.113.7")
    with app.app_context():
        assert [windows.hit(item, *who) for _ in range(2)] == [True, True]
        clock[0] += 20
        assert windows.hit(item, *who)
        assert not windows.test(item, *who) and not windows.hit(item, *who)
        assert windows.get_window_stats(item, *who) == (started + 300, 0)
        assert windows.get_window_stats(item, "install-a", "login", "198.51.100.4") == (clock[0] + 300, 3)

        clock[0] = started + 300  # the window has ended: the next counts from one
        assert windows.test(item, *who) and windows.hit(item, *who)
        assert windows.get_window_stats(item, *who) == (clock[0] + 300, 2)
