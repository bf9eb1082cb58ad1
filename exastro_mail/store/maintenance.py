"""The deadline of maintenance commands on the database (init-db, export, import)."""

import contextlib

from .db import EXTENSION_KEY, close_all, db, open_database


@contextlib.contextmanager
def maintenance_deadline(app):
    """Within it, the app's database waits up to MAINTENANCE_DATABASE_TIMEOUT: init-db adding an index to
    millions of rows, or export and import, take minutes, not the seconds a page may wait. On SQLite it
    is the wait for another writer, such as another instance's init-db migrating the same file."""
    seconds = app.config["MAINTENANCE_DATABASE_TIMEOUT"]
    database = open_database(app.config["DATABASE_URL"], seconds, sqlite_busy=seconds)
    usual = app.extensions[EXTENSION_KEY]
    app.extensions[EXTENSION_KEY] = database
    db.initialize(database)
    try:
        yield
    finally:
        app.extensions[EXTENSION_KEY] = usual
        db.initialize(usual)
        close_all(database)
