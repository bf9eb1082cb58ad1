"""SQLite as the embedded default keeps it: a file that gives freed pages back, one connection per thread
kept open, and writers that take turns promptly."""

import contextlib
import itertools
import os
import sqlite3
import threading
import time
import weakref

from peewee import OperationalError, SqliteDatabase


def _begin_with_incremental_vacuum(path: str) -> None:
    """A new file gives freed pages back (auto_vacuum=incremental; store/sqlite_space.py). SQLite takes it
    only before the file's first page, so it is set here, before journal_mode, and only on a new file: as
    a pragma of every connection it would wait for a writer's lock, which readers in WAL never do. An
    older file keeps none until one VACUUM (`exastro-mail prune --vacuum`)."""
    if os.path.exists(path) and os.path.getsize(path) > 0:
        return
    with contextlib.closing(sqlite3.connect(path, timeout=10)) as connection:
        connection.execute("PRAGMA auto_vacuum = incremental")
        connection.execute("PRAGMA journal_mode = wal")


# Pauses between two tries at SQLite's write lock, the last repeated. SQLite's own wait (busy_timeout)
# sleeps 1, 2, 5, 10, 15, 20, 25 ms... between its tries, long beside the writes here, which hold the lock
# for a fraction of a millisecond: under a burst of forgot-password POSTs the web workers slept more than
# they worked (docs/benchmarks.md).
WRITE_LOCK_PAUSES = (0.0001, 0.0002, 0.0005, 0.001)


class SqliteFileDatabase(SqliteDatabase):
    """SQLite with one connection per thread kept open across requests, whose transactions wait for
    another writer in short steps (WRITE_LOCK_PAUSES).

    Closing the last connection to a WAL database makes SQLite checkpoint it, which would cost every
    write request ~17 ms. Connections stay open until their thread ends or close_all() (at the app's end).
    """

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("check_same_thread", False)  # so close_all() and thread ends may close them
        # How long a write waits for another writer (the busy_timeout every connection is given).
        self.busy_ms = int(dict(kwargs.get("pragmas") or {}).get("busy_timeout", 5000))
        super().__init__(*args, **kwargs)
        self._open: dict[int, tuple] = {}  # number -> (connection, finalizer of its thread)
        self._open_lock = threading.Lock()
        self._numbers = itertools.count()

    def _connect(self):
        _begin_with_incremental_vacuum(self.database)
        conn = super()._connect()
        number = next(self._numbers)
        ended = weakref.finalize(threading.current_thread(), self._close_number, number)
        with self._open_lock:
            self._open[number] = (conn, ended)
        return conn

    def begin(self, lock_type=None):
        """BEGIN (IMMEDIATE: the write lock at once), tried again after each of WRITE_LOCK_PAUSES while
        another writer holds the lock, for as long as busy_timeout would have waited."""
        conn = self.connection()
        deadline = time.monotonic() + self.busy_ms / 1000
        conn.execute("PRAGMA busy_timeout = 0")
        try:
            for attempt in itertools.count():
                try:
                    return super().begin(lock_type)
                except OperationalError as error:
                    if "locked" not in str(error) or time.monotonic() >= deadline:
                        raise
                time.sleep(WRITE_LOCK_PAUSES[min(attempt, len(WRITE_LOCK_PAUSES) - 1)])
        finally:
            conn.execute(f"PRAGMA busy_timeout = {self.busy_ms}")

    def _close(self, conn):
        with self._open_lock:
            numbers = [number for number, (held, _) in self._open.items() if held is conn]
            entries = [self._open.pop(number) for number in numbers]
        for _, ended in entries:
            ended.detach()
        super()._close(conn)

    def _close_number(self, number: int) -> None:
        with self._open_lock:
            entry = self._open.pop(number, None)
        if entry is not None:
            entry[0].close()

    def close_all(self) -> None:
        """Close every thread's connection (when the app is done: no thread may still be using one)."""
        if not self.is_closed():
            self.close()  # this thread's, so that peewee knows it is closed
        with self._open_lock:
            entries, self._open = list(self._open.values()), {}
        for conn, ended in entries:
            ended.detach()
            conn.close()
