"""Retention as the log pages tell it, and `exastro-mail prune` (the pruning itself: store/retention.py)."""

import time

import click
from flask import current_app
from flask.cli import with_appcontext

from ..outbox import status
from ..store import retention, sqlite_space


def retention_days(config, name: str) -> int | None:
    """How many days a log keeps its entries (name: DELIVERY or AUDIT); None when kept for ever."""
    return retention.days_setting(config, name)


def policy(config) -> retention.Retention:
    """The retention of this app, over the outbox's statuses."""
    done = tuple(name for name in status.FINAL if name != status.FAILED)
    return retention.Retention.from_config(config, done, status.FAILED)


def prune_due(batch: int | None = None, progress=None):
    """Prune everything that is due now, to the end (in the app context); the Progress of it."""
    config = current_app.config
    return retention.prune(policy(config), batch=batch or int(config["PRUNE_BATCH"]), progress=progress)


@click.command("prune")
@click.option(
    "--vacuum",
    is_flag=True,
    help="SQLite: rewrite the file once so that pruning gives space back (files made before this "
    "version); it blocks writes while it runs, about a minute per GB.",
)
@with_appcontext
def prune_command(vacuum):
    """Remove what the retention settings no longer keep, in small batches (run it from cron)."""
    started = time.monotonic()
    if vacuum and not sqlite_space.incremental_vacuum_is_on():
        click.echo("Rewriting the SQLite file with auto_vacuum=incremental (VACUUM)...")
        sqlite_space.vacuum_once()
    progress = prune_due()
    removed = ", ".join(f"{what}: {rows}" for what, rows in progress.removed.items())
    click.echo(f"Pruned in {time.monotonic() - started:.1f} s ({removed}).")
    if not sqlite_space.incremental_vacuum_is_on():
        click.echo(
            "Note: this SQLite file does not give freed space back to the file system yet; run "
            "`exastro-mail prune --vacuum` once, at a quiet time.",
            err=True,
        )
