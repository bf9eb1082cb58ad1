"""Writing an export file from one consistent snapshot, and `backup` of an SQLite file."""

import os
import sqlite3
import tempfile
from pathlib import Path

from flask import current_app

from ..store import migrations
from ..store.db import POSTGRESQL, SQLITE, db, engine
from ..store.models import utcnow
from .export_file import (
    ENGINE_NAMES,
    EXPORTED,
    FORMAT,
    FORMAT_VERSION,
    TransferError,
    dump_value,
    new_private_file,
    write_line,
)

EXPORT_PAGE = 1000  # rows read at a time (bodies may be 1 MiB each)


def export_install(path: Path) -> dict[str, int]:
    """Write every exported table to path (mode 0600) from one consistent snapshot; counts by table."""
    counts = {model._meta.table_name: 0 for model in EXPORTED}
    with new_private_file(path) as handle, db.atomic(**_snapshot_options()):
        write_line(
            handle,
            {
                "format": FORMAT,
                "format_version": FORMAT_VERSION,
                "schema_version": migrations.current_version(),
                "exported_at": utcnow().isoformat(),
                "engine": engine(),
            },
        )
        for model in EXPORTED:
            table = model._meta.table_name
            for row in _all_rows(model):
                write_line(
                    handle, {"table": table, "row": {key: dump_value(value) for key, value in row.items()}}
                )
                counts[table] += 1
        write_line(handle, {"end": True, "counts": counts})
    return counts


def backup_sqlite(path: Path) -> int:
    """Copy the SQLite database to path (mode 0600) while the app keeps running; returns its size."""
    kind = engine()
    if kind != SQLITE:
        tool = "pg_dump --format=custom" if kind == POSTGRESQL else "mariadb-dump --single-transaction"
        raise TransferError(
            f"exastro-mail backup copies SQLite databases only; this install uses {ENGINE_NAMES[kind]}. "
            f"Back it up with the server's own tool ({tool}), or make an engine-neutral copy with "
            "`exastro-mail export FILE`."
        )
    if path.exists():
        raise TransferError(f"{path} already exists; choose a new name.")
    source_path = current_app.extensions["exastro_mail.db"].database
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    os.close(fd)
    try:
        source = sqlite3.connect(source_path, timeout=10)
        target = sqlite3.connect(temporary)
        try:
            # One step: SQLite copies a single read snapshot, whatever is written meanwhile.
            source.backup(target)
            (verdict,) = target.execute("PRAGMA quick_check").fetchone()
            if verdict != "ok":
                raise TransferError(f"The copy failed SQLite's check ({verdict}); nothing was written.")
        finally:
            target.close()
            source.close()
        os.link(temporary, path)  # never over a file that appeared meanwhile
    finally:
        os.unlink(temporary)
    return path.stat().st_size


def _all_rows(model):
    """Every row of a table as a dict, by id, a page at a time (drivers otherwise fetch all at once)."""
    last = 0
    while True:
        page = list(model.select().where(model.id > last).order_by(model.id).limit(EXPORT_PAGE).dicts())
        yield from page
        if len(page) < EXPORT_PAGE:
            return
        last = page[-1]["id"]


def _snapshot_options() -> dict:
    """Begin arguments for a read that sees one moment of the database, however long it takes."""
    kind = engine()
    if kind == SQLITE:
        return {"lock_type": "DEFERRED"}  # a read transaction: writers go on, it keeps its snapshot
    return {"isolation_level": "REPEATABLE READ"}
