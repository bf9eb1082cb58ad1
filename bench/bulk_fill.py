"""Insert many rows fast, with exactly the values peewee's insert_many would send.

The benchmarks that need a year of history (history_scale.py, outbox_claim.py) used to insert it through
peewee's insert_many, 1k-5k rows a statement: about 10 minutes per engine for a million rows of each
log, most of it peewee building SQL. Here the rows are still the same Python dicts, and each value
still goes through its field's db_value (as peewee's INSERT does), but they reach the database in bulk:
one executemany per chunk in one transaction on SQLite, COPY on PostgreSQL. The columns are the ones
peewee's insert_many would name (those in the first row, and those with a Python default, filled the
same way), read from the model of whichever code is running, so an older checkout's schema is filled
the same way. The schema itself is still made by the app's own migrations.
"""

import csv
import io
import itertools
from datetime import date, datetime

CHUNK = 50_000


def insert(model, rows, chunk: int = CHUNK) -> int:
    """Insert every dict of rows (an iterable) into model's table; how many were inserted."""
    from exastro_mail.store.db import db

    rows = iter(rows)
    first = next(rows, None)
    if first is None:
        return 0
    fields = _fields(model, first)
    database = db.obj
    server = not _is_sqlite(database)
    table = model._meta.table_name
    columns = ", ".join(f'"{field.column_name}"' for field in fields)
    count = 0
    with db.atomic():
        cursor = database.cursor()
        if not server:
            # A bigger page cache for the fill only: the indexes are built as the rows come.
            cursor.execute("PRAGMA cache_size = -262144")
        for batch in _batches(itertools.chain([first], rows), chunk):
            values = [_values(fields, row) for row in batch]
            if server:
                _copy(cursor, table, columns, values)
            else:
                marks = ", ".join("?" for _ in fields)
                cursor.executemany(f'INSERT INTO "{table}" ({columns}) VALUES ({marks})', values)  # noqa: S608
            count += len(values)
        if not server:
            cursor.execute("PRAGMA cache_size = -2000")  # SQLite's default again
    return count


def _is_sqlite(database) -> bool:
    from peewee import SqliteDatabase

    return isinstance(database, SqliteDatabase)


def _fields(model, first: dict) -> list:
    """The fields peewee's insert_many names: those of the first row, then any with a default."""
    fields = []
    for field in model._meta.sorted_fields:
        if field.name in first or field.default is not None:
            fields.append(field)
    unknown = set(first) - {field.name for field in fields}
    if unknown:
        raise ValueError(f"{model.__name__} has no fields {sorted(unknown)}")
    return fields


def _values(fields: list, row: dict) -> tuple:
    values = []
    for field in fields:
        if field.name in row:
            value = row[field.name]
        else:
            value = field.default() if callable(field.default) else field.default
        values.append(field.db_value(value))
    return tuple(values)


def _batches(rows, size: int):
    while True:
        batch = list(itertools.islice(rows, size))
        if not batch:
            return
        yield batch


def _copy(cursor, table: str, columns: str, values: list) -> None:
    """PostgreSQL's COPY, as CSV: an unquoted empty field is NULL, a quoted one an empty string."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    for row in values:
        writer.writerow([_text(value) for value in row])
    buffer.seek(0)
    import psycopg2.extensions

    # The app waits on libpq through its own callback (the database deadline, store/timeouts.py), which
    # COPY cannot run under; the fill does without it.
    callback = psycopg2.extensions.get_wait_callback()
    psycopg2.extensions.set_wait_callback(None)
    try:
        cursor.copy_expert(f'COPY "{table}" ({columns}) FROM STDIN WITH (FORMAT csv)', buffer)
    finally:
        psycopg2.extensions.set_wait_callback(callback)


def _text(value):
    if value is None:
        return None  # csv.writer writes nothing: NULL
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime | date):
        return value.isoformat(" ")
    if value == "":
        raise ValueError("an empty string would be read as NULL by COPY; not supported here")
    return value
