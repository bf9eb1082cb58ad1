"""Numbered schema steps. A new database gets today's schema and the latest number at once;
an older one runs every step above the number it records."""

from peewee import IntegerField

from ..db import db
from ..models import ALL_MODELS, BaseModel

# (number, description, function(database)); append only, never renumber.
STEPS: list[tuple[int, str, object]] = []
LATEST = max((number for number, _, _ in STEPS), default=1)


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
    with db.atomic():
        before = current_version()
        if before is None:
            db.create_tables([*ALL_MODELS, SchemaVersion])
            SchemaVersion.create(version=LATEST)
            return None, LATEST
        for number, _description, step in STEPS:
            if number > before:
                step(db)
                SchemaVersion.update(version=number).execute()
        return before, max(before, LATEST)


__all__ = ["LATEST", "SchemaVersion", "current_version", "migrate"]
