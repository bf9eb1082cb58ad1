"""SQLite gives freed pages back to the file system: auto_vacuum=incremental (set on every new file,
store/db.py), and incremental_vacuum a batch of pages at a time after pruning (store/retention.py)."""

import time

from .db import db, is_sqlite

VACUUM_PAGES = 1000  # pages given back per incremental_vacuum step (4 MiB at SQLite's page size)


def give_back_free_pages(deadline=None, pause=0.005) -> int:
    """SQLite: return the file's free pages to the file system, VACUUM_PAGES at a time (each step a short
    write); how many. Nothing happens in a file made before auto_vacuum=incremental until vacuum_once()."""
    if db.execute_sql("PRAGMA auto_vacuum").fetchone()[0] != 2:
        return 0
    given = 0
    while deadline is None or time.monotonic() <= deadline:
        (free,) = db.execute_sql("PRAGMA freelist_count").fetchone()
        if not free:
            break
        # Each step of the statement frees one page, and Python's execute() steps a statement without
        # result columns once: executescript() runs it to the end.
        db.connection().executescript(f"PRAGMA incremental_vacuum({VACUUM_PAGES})")
        given += min(free, VACUUM_PAGES)
        time.sleep(pause)
    if given:
        # The file is cut to its new size when the write-ahead log is copied back into it.
        db.execute_sql("PRAGMA wal_checkpoint(PASSIVE)")
    return given


def incremental_vacuum_is_on() -> bool:
    """SQLite: whether the file gives freed pages back (True on every other engine: nothing to do)."""
    return not is_sqlite() or db.execute_sql("PRAGMA auto_vacuum").fetchone()[0] == 2


def vacuum_once() -> None:
    """SQLite: rewrite the file once with auto_vacuum=incremental (a file made before it had none). It
    holds the write lock for the whole rewrite: about a minute per GB."""
    db.execute_sql("PRAGMA auto_vacuum = incremental")
    db.execute_sql("VACUUM")
