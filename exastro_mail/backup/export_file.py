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
import tempfile
from datetime import datetime
from pathlib import Path

import click
from peewee import BooleanField, DateTimeField

from ..store import migrations
from ..store.db import MYSQL, POSTGRESQL, SQLITE
from ..store.models import (
    ApiToken,
    AuditEvent,
    MailServerSettings,
    Organization,
    OutboxMessage,
    ResetToken,
    User,
)

FORMAT = "exastro-mail-export"

FORMAT_VERSION = 1

# Parents before children, so foreign keys hold at every insert.
EXPORTED = (Organization, User, MailServerSettings, ResetToken, OutboxMessage, AuditEvent, ApiToken)

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


class new_private_file:
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


class open_export:
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


def check_header(path: Path, first) -> None:
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


def write_line(handle, record: dict) -> None:
    handle.write(json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n")


def dump_value(value):
    return value.isoformat() if isinstance(value, datetime) else value


def load_row(model, stored: dict, path: Path, number: int) -> dict:
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
