"""SQLite's writers take turns promptly: a transaction waiting for another's write lock tries again every
fraction of a millisecond (store/sqlite_file.py), not after SQLite's own 1, 2, 5, 10 ms sleeps, and
still gives up after the busy timeout."""

import sqlite3
import threading
import time

import pytest
from peewee import OperationalError

from exastro_mail.store.db import open_database

pytestmark = pytest.mark.only_on("sqlite")


@pytest.fixture
def database(tmp_path):
    path = tmp_path / "writers.sqlite3"
    database = open_database(f"sqlite:///{path}", sqlite_busy=2)
    database.execute_sql("CREATE TABLE t (n INTEGER)")
    yield database, path
    database.close_all()


def holding_the_write_lock(path, seconds: float) -> threading.Thread:
    """Another connection (as another process would) holds the write lock for seconds."""
    taken = threading.Event()

    def hold():
        connection = sqlite3.connect(path, isolation_level=None)
        connection.execute("BEGIN IMMEDIATE")
        connection.execute("INSERT INTO t VALUES (1)")
        taken.set()
        time.sleep(seconds)
        connection.execute("COMMIT")
        connection.close()

    holder = threading.Thread(target=hold)
    holder.start()
    taken.wait(5)
    return holder


def test_a_waiting_transaction_tries_for_the_lock_again_every_fraction_of_a_millisecond(database):
    database, path = database
    tries = []  # each BEGIN run, traced by SQLite itself
    database.connection().set_trace_callback(lambda sql: sql.startswith("BEGIN") and tries.append(sql))
    holder = holding_the_write_lock(path, 0.05)
    started = time.monotonic()
    with database.atomic():
        waited = time.monotonic() - started
        database.execute_sql("INSERT INTO t VALUES (2)")
    holder.join()
    # SQLite's own wait tries again inside one BEGIN, after sleeping 1, 2, 5, 10, 15, 20 ms: 6 tries in
    # 50 ms; at most 0.1 to 1 ms apart, about 50 (fewer on a busy machine).
    assert waited >= 0.05 and len(tries) >= 15, (waited, len(tries))
    assert database.execute_sql("SELECT COUNT(*) FROM t").fetchone()[0] == 2
    assert database.execute_sql("PRAGMA busy_timeout").fetchone()[0] == 2000  # given back after the wait


def test_a_transaction_gives_up_after_the_busy_timeout(database):
    database, path = database
    holder = holding_the_write_lock(path, 3)
    started = time.monotonic()
    with pytest.raises(OperationalError, match="locked"), database.atomic():
        database.execute_sql("INSERT INTO t VALUES (2)")
    assert 2 <= time.monotonic() - started < 2.5
    holder.join()
    assert database.execute_sql("PRAGMA busy_timeout").fetchone()[0] == 2000
