"""Moving an install: `exastro-mail export FILE` and `import FILE` between engines, `backup FILE` for SQLite.

An export holds organizations, users (password hashes), mail sending server settings (the SMTP password
still sealed), reset tokens and API tokens (hashes only), the outbox with its history, and the audit
log; logins are not moved (everyone logs in again). The SMTP password and queued reset mails stay
encrypted, so the install that imports must use the same EXASTRO_MAIL_ENCRYPTION_KEY; import refuses,
and writes nothing, when its key cannot open them.

The file is JSON Lines: a header, one line per row, and a closing line with the counts, so a cut-off
file is refused instead of half imported.
"""

import json
import os
import sqlite3
import tempfile
from datetime import datetime
from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext
from peewee import BooleanField, DateTimeField, IntegrityError

from ..outbox import status
from ..outbox.enqueue import SEALED_PREFIX
from ..store import migrations, secretbox
from ..store.db import MYSQL, POSTGRESQL, SQLITE, db, engine
from ..store.models import (
    ApiToken,
    AuditEvent,
    MailServerSettings,
    Organization,
    OutboxMessage,
    ResetToken,
    User,
    utcnow,
)

FORMAT = "exastro-mail-export"
FORMAT_VERSION = 1
# Parents before children, so foreign keys hold at every insert.
EXPORTED = (Organization, User, MailServerSettings, ResetToken, OutboxMessage, AuditEvent, ApiToken)
INSERT_BATCH = 500
INSERT_BATCH_BYTES = 4 * 1024 * 1024  # well under MariaDB's max_allowed_packet (16 MiB by default)
EXPORT_PAGE = 1000  # rows read at a time (bodies may be 1 MiB each)
SENSITIVE_NOTE = (
    "The file holds password hashes, token hashes and the sealed SMTP password: keep it as safe as "
    "the database itself."
)
KEY_NOTE = (
    "The install that imports it must use the same EXASTRO_MAIL_ENCRYPTION_KEY "
    "(this install's instance/encryption_key file, or the environment variable)."
)
ENGINE_NAMES = {SQLITE: "SQLite", POSTGRESQL: "PostgreSQL", MYSQL: "MariaDB"}


class TransferError(click.ClickException):
    """An export, import or backup that cannot be done; the message says why and what to do."""


def export_install(path: Path) -> dict[str, int]:
    """Write every exported table to path (mode 0600) from one consistent snapshot; counts by table."""
    counts = {model._meta.table_name: 0 for model in EXPORTED}
    with _new_private_file(path) as handle, db.atomic(**_snapshot_options()):
        _write_line(
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
                _write_line(
                    handle, {"table": table, "row": {key: _dump(value) for key, value in row.items()}}
                )
                counts[table] += 1
        _write_line(handle, {"end": True, "counts": counts})
    return counts


def import_install(path: Path) -> dict[str, int]:
    """Load an export into this install's database, which must hold no organization yet; counts by table.

    Everything is written in one transaction: a refused secret or a damaged file leaves nothing behind.
    """
    migrations.migrate()
    existing = Organization.select().count()
    if existing:
        raise TransferError(
            f"This install's database already holds {existing} organization(s); import needs an empty "
            "one. Point EXASTRO_MAIL_DATABASE_URL at a new database, run `exastro-mail init-db`, then "
            "import again."
        )
    models = {model._meta.table_name: model for model in EXPORTED}
    counts = dict.fromkeys(models, 0)
    batch = _Batch()
    ended = False
    with _open_export(path) as lines, db.atomic():
        _check_header(path, next(lines, None))
        for number, record, size in lines:
            if ended:
                raise TransferError(f"{path}, line {number}: there is more after the end mark.")
            if record.get("end"):
                ended = True
                batch.write(path, number)
                if record.get("counts") != counts:
                    raise TransferError(f"{path} does not hold the rows its end mark counts; it is damaged.")
                continue
            table = record.get("table")
            model = models.get(table)
            if model is None or not isinstance(record.get("row"), dict):
                raise TransferError(f"{path}, line {number}: not a row of an exported table.")
            row = _load(model, record["row"], path, number)
            _check_secrets(model, row)
            batch.add(model, row, size, path, number)
            counts[table] += 1
        if not ended:
            raise TransferError(f"{path} ends before its end mark: the export was cut off.")
        _continue_ids_after_imported(models.values())
    return counts


class _Batch:
    """Rows of one table waiting to be inserted together; written when the table changes (the file
    lists parents before children) or the batch grows past INSERT_BATCH rows or INSERT_BATCH_BYTES."""

    def __init__(self):
        self.model, self.rows, self.size = None, [], 0

    def add(self, model, row: dict, size: int, path: Path, number: int) -> None:
        if model is not self.model or len(self.rows) >= INSERT_BATCH or self.size + size > INSERT_BATCH_BYTES:
            self.write(path, number)
        self.model = model
        self.rows.append(row)
        self.size += size

    def write(self, path: Path, number: int) -> None:
        if self.rows:
            try:
                with db.atomic():
                    self.model.insert_many(self.rows).execute()
            except IntegrityError as error:
                raise TransferError(
                    f"{path}, before line {number}: the rows do not fit together ({error}); "
                    "nothing was imported."
                ) from error
        self.rows, self.size = [], 0


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


class _new_private_file:
    """A file only the owner can read, written beside its final name and moved there when complete."""

    def __init__(self, path: Path):
        self.path = path

    def __enter__(self):
        if self.path.exists():
            raise TransferError(f"{self.path} already exists; choose a new name.")
        fd, self.temporary = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.")
        self.handle = os.fdopen(fd, "w", encoding="utf-8")
        return self.handle

    def __exit__(self, exc_type, exc, traceback):
        self.handle.close()
        try:
            if exc_type is None:
                os.link(self.temporary, self.path)
        finally:
            os.unlink(self.temporary)


class _open_export:
    """(line number, record) pairs of an export file."""

    def __init__(self, path: Path):
        self.path = path

    def __enter__(self):
        try:
            self.handle = open(self.path, encoding="utf-8")  # noqa: SIM115 (closed in __exit__)
        except OSError as error:
            raise TransferError(f"Cannot read {self.path}: {error.strerror}.") from error
        return self._records()

    def _records(self):
        for number, line in enumerate(self.handle, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except ValueError as error:
                raise TransferError(f"{self.path}, line {number}: not JSON ({error.msg}).") from error
            if not isinstance(record, dict):
                raise TransferError(f"{self.path}, line {number}: not a record.")
            yield number, record, len(line)

    def __exit__(self, *exc):
        self.handle.close()


def _check_header(path: Path, first) -> None:
    header = first[1] if first else {}  # (number, record, size)
    if header.get("format") != FORMAT:
        raise TransferError(f"{path} is not an exastro-mail export.")
    if header.get("format_version") != FORMAT_VERSION:
        raise TransferError(
            f"{path} is an export of format {header.get('format_version')}; this exastro-mail reads "
            f"format {FORMAT_VERSION}."
        )
    schema = header.get("schema_version")
    if not isinstance(schema, int) or schema > migrations.LATEST:
        raise TransferError(
            f"{path} comes from a newer exastro-mail (schema {schema}); upgrade this install first."
        )


def _check_secrets(model, row: dict) -> None:
    """Refuse, before anything is committed, a sealed value this install's key cannot open."""
    if model is MailServerSettings and row.get("authentication_password_sealed"):
        _must_open(row["authentication_password_sealed"], "the SMTP password of an organization's settings")
    if model is OutboxMessage and row.get("status") not in status.FINAL:
        for body in (row.get("body_text"), row.get("body_html")):
            if body and body.startswith(SEALED_PREFIX):
                _must_open(body[len(SEALED_PREFIX) :], "a queued password reset mail")
        if row.get("reset_request"):
            _must_open(row["reset_request"], "a forgot-password request not yet looked at")


def _must_open(sealed: str, what: str) -> None:
    try:
        secretbox.unseal(sealed)
    except secretbox.SecretUnreadable:
        raise TransferError(
            f"This install's EXASTRO_MAIL_ENCRYPTION_KEY cannot open {what} in the export: it was sealed "
            "with the exporting install's key. Set EXASTRO_MAIL_ENCRYPTION_KEY here to that key (its "
            "instance/encryption_key file) and import again. Nothing was imported."
        ) from None


def _write_line(handle, record: dict) -> None:
    handle.write(json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n")


def _dump(value):
    return value.isoformat() if isinstance(value, datetime) else value


def _load(model, stored: dict, path: Path, number: int) -> dict:
    """A row as the model stores it: known columns only, times and flags in their types."""
    fields = {field.name: field for field in model._meta.sorted_fields}
    unknown = set(stored) - set(fields)
    if unknown:
        raise TransferError(
            f"{path}, line {number}: {model._meta.table_name} has no field {sorted(unknown)}."
        )
    row = {}
    for name, value in stored.items():
        field = fields[name]
        try:
            if value is not None and isinstance(field, DateTimeField):
                value = datetime.fromisoformat(value)
            elif value is not None and isinstance(field, BooleanField):
                value = bool(value)
        except (TypeError, ValueError) as error:
            raise TransferError(f"{path}, line {number}: {name} is not valid ({error}).") from error
        row[name] = value
    return row


def _continue_ids_after_imported(models) -> None:
    """PostgreSQL's sequences do not follow explicit ids (SQLite and MariaDB do): move them on."""
    if engine() != POSTGRESQL:
        return
    for model in models:
        table = f'"{model._meta.table_name}"'  # our own name, quoted ("user" is a keyword)
        sequence = "pg_get_serial_sequence(%s, 'id')"
        db.execute_sql(
            f"SELECT setval({sequence}, COALESCE(MAX(id), 1), MAX(id) IS NOT NULL) FROM {table}",  # noqa: S608  # nosec B608  # our own table and sequence names
            (table,),
        )


@click.command("export")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@with_appcontext
def export_command(file):
    """Write this install's data to FILE (to move it to another database or engine with `import`)."""
    counts = export_install(file)
    click.echo(f"Exported {_summary(counts)} to {file}.")
    click.echo(SENSITIVE_NOTE)
    click.echo(KEY_NOTE)


@click.command("import")
@click.argument("file", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@with_appcontext
def import_command(file):
    """Load FILE, made by `exastro-mail export`, into this install's empty database."""
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
