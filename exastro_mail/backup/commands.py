"""The `exastro-mail export`, `import` and `backup` commands."""

from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext

from ..store.maintenance import maintenance_deadline
from .export import backup_sqlite, export_install
from .export_file import KEY_NOTE, SENSITIVE_NOTE
from .restore import import_install


@click.command("export")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@with_appcontext
def export_command(file):
    """Write this install's data to FILE (to move it to another database or engine with `import`)."""
    with maintenance_deadline(current_app):
        counts = export_install(file)
    click.echo(f"Exported {_summary(counts)} to {file}.")
    click.echo(SENSITIVE_NOTE)
    click.echo(KEY_NOTE)


@click.command("import")
@click.argument("file", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@with_appcontext
def import_command(file):
    """Load FILE, made by `exastro-mail export`, into this install's empty database."""
    with maintenance_deadline(current_app):
        counts = import_install(file)
    click.echo(f"Imported {_summary(counts)} from {file}.")
    click.echo("Logins were not moved: users log in again.")


@click.command("backup")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@with_appcontext
def backup_command(file):
    """Copy the SQLite database to FILE while exastro-mail keeps running."""
    size = backup_sqlite(file)
    click.echo(f"Backed up the SQLite database to {file} ({size} bytes).")
    click.echo(f"{SENSITIVE_NOTE} Restoring it needs this install's EXASTRO_MAIL_ENCRYPTION_KEY too.")


def _summary(counts: dict[str, int]) -> str:
    return ", ".join(f"{count} {table}" for table, count in counts.items())


COMMANDS = (export_command, import_command, backup_command)
