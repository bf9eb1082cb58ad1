"""Tables made as this version defines them, on every engine."""

from peewee import sort_models

from ..db import MYSQL, MYSQL_CHARACTER_SET, db, engine


def create_tables(models) -> None:
    """Create tables as this version defines them (on MariaDB with its character set and collation)."""
    db.create_tables(models)
    if engine() == MYSQL:
        # The tables are new and empty: converting them costs nothing, and peewee's public API has
        # table options per model only, not per engine.
        for model in sort_models(models):
            db.execute_sql(f"ALTER TABLE `{model._meta.table_name}` CONVERT TO {MYSQL_CHARACTER_SET}")
