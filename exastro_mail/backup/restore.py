"""Loading an export into an empty install, in one transaction."""

from pathlib import Path

from peewee import IntegrityError

from ..outbox import status
from ..outbox.enqueue import SEALED_PREFIX
from ..store import migrations, secretbox
from ..store.db import POSTGRESQL, db, engine
from ..store.models import (
    MailServerSettings,
    Organization,
    OutboxMessage,
)
from .export_file import EXPORTED, TransferError, check_header, load_row, open_export

INSERT_BATCH = 500

INSERT_BATCH_BYTES = 4 * 1024 * 1024  # well under MariaDB's max_allowed_packet (16 MiB by default)


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
    with open_export(path) as lines, db.atomic():
        check_header(path, next(lines, None))
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
            row = load_row(model, record["row"], path, number)
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
