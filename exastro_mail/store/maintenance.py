"""The deadline of maintenance commands on the database (init-db, export, import)."""

import contextlib

from .db import EXTENSION_KEY, close_all, db, is_sqlite, open_database


@contextlib.contextmanager
def maintenance_deadline(app):
    """Within it, the app's database waits up to MAINTENANCE_DATABASE_TIMEOUT on the server engines:
    init-db adding an index to millions of rows, or export and import, take minutes, not the seconds a
    page may wait. SQLite has no server to hang and keeps its connection."""
    if is_sqlite():
        yield
        return
    database = open_database(app.config["DATABASE_URL"], app.config["MAINTENANCE_DATABASE_TIMEOUT"])
    usual = app.extensions[EXTENSION_KEY]
    app.extensions[EXTENSION_KEY] = database
    db.initialize(database)
    try:
        yield
    finally:
        app.extensions[EXTENSION_KEY] = usual
        db.initialize(usual)
        close_all(database)
