"""Numbered schema steps. A new database gets today's schema and the latest number at once;
an older one runs every step above the number it records.

A step names its tables and columns literally: it must keep working on the schema it was written for
after models.py has moved on. Several instances may run `exastro-mail init-db` at once: one migrates,
the others wait for it and then find the schema up to date.
"""

import contextlib
import time

import click
from peewee import IntegerField

from ..db import MYSQL, POSTGRESQL, db, engine
from ..models import ALL_MODELS, BaseModel
from .steps import LATEST, STEPS
from .tables import create_tables

# One lock per database: installs on other databases of the same server never wait on each other
# (PostgreSQL's advisory locks belong to a database already; MariaDB's names are server-wide, at most
# 64 characters, so the database's name goes in as a digest).
MYSQL_LOCK_NAME = "CONCAT('exastro_mail.migrate:', MD5(DATABASE()))"
LOCK_KEY = 0x6578_6D61_696C  # PostgreSQL advisory lock key: "exmail"
LOCK_WAIT_SECONDS = 300
# The lock is tried, not waited for on the server: every statement has the database timeout
# (EXASTRO_MAIL_DATABASE_TIMEOUT, 5 s) on both sides, which would end a wait long before another
# instance's migration does.
LOCK_RETRY_SECONDS = 0.2


class MigrationError(click.ClickException):
    """The schema cannot be migrated now; the message says why (`exastro-mail init-db` prints it)."""


class SchemaVersion(BaseModel):
    version = IntegerField()


def current_version() -> int | None:
    """The schema number the database records, or None for an empty database."""
    if not db.table_exists(SchemaVersion._meta.table_name):
        return None
    row = SchemaVersion.select().order_by(SchemaVersion.version.desc()).first()
    return row.version if row else None


def migrate() -> tuple[int | None, int]:
    """Create or upgrade the schema; idempotent. Returns (version before, version after)."""
    with _only_one_migrator():
        before = current_version()
        if before is None:
            with db.atomic():
                create_tables([*ALL_MODELS, SchemaVersion])
                SchemaVersion.create(version=LATEST)
            return None, LATEST
        if before > LATEST:
            raise MigrationError(
                f"The database has schema version {before}, newer than this exastro-mail knows "
                f"({LATEST}): upgrade exastro-mail on this machine."
            )
        for number, _description, step in STEPS:
            if number > before:
                # Where DDL is transactional (SQLite, PostgreSQL) a failed step leaves nothing behind;
                # on MariaDB each step's ALTERs commit, and the number records how far it got.
                with db.atomic():
                    step(db)
                    SchemaVersion.update(version=number).execute()
        return before, max(before, LATEST)


@contextlib.contextmanager
def _only_one_migrator():
    kind = engine()
    if kind == MYSQL:
        _wait_for(f"SELECT GET_LOCK({MYSQL_LOCK_NAME}, 0)")
        try:
            yield
        finally:
            db.execute_sql(f"SELECT RELEASE_LOCK({MYSQL_LOCK_NAME})")
        return
    # SQLite: the IMMEDIATE transaction is the lock. PostgreSQL: an advisory lock until commit.
    with db.atomic():
        if kind == POSTGRESQL:
            _wait_for("SELECT pg_try_advisory_xact_lock(%s)", (LOCK_KEY,))
        yield


def _wait_for(try_lock: str, params=()) -> None:
    """Run try_lock (1 or true: taken) until it takes the lock, for LOCK_WAIT_SECONDS at most."""
    deadline = time.monotonic() + LOCK_WAIT_SECONDS
    while not db.execute_sql(try_lock, params).fetchone()[0]:
        if time.monotonic() >= deadline:
            raise MigrationError(
                f"Another `exastro-mail init-db` has held the migration lock for {LOCK_WAIT_SECONDS} s."
            )
        time.sleep(LOCK_RETRY_SECONDS)


__all__ = [
    "LATEST",
    "STEPS",
    "MigrationError",
    "SchemaVersion",
    "create_tables",
    "current_version",
    "migrate",
]
