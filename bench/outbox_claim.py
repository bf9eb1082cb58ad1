"""What a claim costs, and how fast the outbox delivers, with a large backlog and years of history.

Two databases per engine: "small" holds a backlog of 1k queued notifications and no history; "large"
a backlog of 100k queued notifications beside 1M sent ones (a year of a busy organization). Both are
statistics-fresh (ANALYZE). On each it times
- a claim: Claim.take(100) then giving the batch back, repeated (median ms);
- delivery: one-pass workers (deliver_due) to a local aiosmtpd until --deliver mails are sent (mails/s);
and prints the plan of the claim's query. The goal (issue 16): the large one within 0.9x of the small.

--scale shrinks both backlog and history (0.1: 10k queued, 100k sent); --code runs another checkout's
exastro_mail (say /work/main, for the figures before) with this script.

    .venv/bin/python bench/outbox_claim.py --engine sqlite --scale 0.1
    .venv/bin/python bench/outbox_claim.py --engine postgresql --scale 1 --code /work/main
"""

import argparse
import os
import secrets
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from local_smtp import HOST, LocalSmtpServer

POSTGRES_ADMIN = os.environ.get("BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
BODY = "The nightly backup of project {n} finished at 02:13 UTC.\n\nNothing needs to be done.\n" * 3
CHUNK = 1000


def load_code(folder: str | None) -> None:
    sys.path.insert(0, folder or str(Path(__file__).resolve().parent.parent))


def database_url(engine: str, folder: str) -> tuple[str, object]:
    """A fresh database's URL and a function that drops it."""
    if engine == "sqlite":
        return f"sqlite:///{folder}/bench.sqlite3", lambda: None
    import psycopg2

    name = f"exastro_bench_{secrets.token_hex(3)}"
    admin = psycopg2.connect(POSTGRES_ADMIN)
    admin.autocommit = True
    admin.cursor().execute(f"CREATE DATABASE {name}")

    def drop():
        admin.cursor().execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.close()

    return POSTGRES_ADMIN.rsplit("/", 1)[0] + f"/{name}", drop


def fill(organization, backlog: int, history: int) -> None:
    from exastro_mail.store.db import db
    from exastro_mail.store.models import OutboxMessage, utcnow

    now = utcnow()
    for state, count, age in (("sent", history, timedelta(days=200)), ("queued", backlog, timedelta(0))):
        for start in range(0, count, CHUNK):
            at = now - age - timedelta(hours=1) + timedelta(milliseconds=start)
            rows = [
                {
                    "organization": organization,
                    "kind": "notification",
                    "recipients": f'{{"to": ["user{n}@example.net"]}}',
                    "subject": f"Backup {n} finished",
                    "body_text": BODY.format(n=n),
                    "message_id": f"<{secrets.token_hex(16)}@example.com>",
                    "status": state,
                    "attempts": 1 if state == "sent" else 0,
                    "next_attempt_at": at,
                    "created_at": at,
                    "sent_at": at if state == "sent" else None,
                }
                for n in range(start, min(start + CHUNK, count))
            ]
            with db.atomic():
                OutboxMessage.insert_many(rows).execute()


def claim_plan() -> str:
    from exastro_mail.store.db import db, is_sqlite
    from exastro_mail.store.models import OutboxMessage, utcnow

    try:
        from exastro_mail.outbox.due import queued_due

        query = queued_due(utcnow(), 0).limit(400)
    except ImportError:  # before: the claim's one query
        from exastro_mail.outbox.claim import _due

        query = (
            OutboxMessage.select(OutboxMessage.id)
            .where(_due(utcnow()))
            .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
            .limit(400)
        )
    sql, params = query.sql()
    prefix = "EXPLAIN QUERY PLAN " if is_sqlite() else "EXPLAIN ANALYZE "
    rows = db.execute_sql(prefix + sql, params).fetchall()
    return "\n".join(f"    {row[-1] if is_sqlite() else row[0]}" for row in rows)


def measure(engine: str, backlog: int, history: int, claims: int, deliver: int, smtp) -> dict:
    from exastro_mail import create_app
    from exastro_mail.auth.accounts import create_organization
    from exastro_mail.mailserver.store import save_settings
    from exastro_mail.outbox.claim import Claim
    from exastro_mail.outbox.worker import deliver_due
    from exastro_mail.store import migrations
    from exastro_mail.store.db import db, is_sqlite
    from exastro_mail.store.models import OutboxMessage

    with tempfile.TemporaryDirectory(prefix="exastro-bench-") as folder:
        url, drop = database_url(engine, folder)
        app = create_app(
            {
                "INSTANCE_PATH": os.path.join(folder, "instance"),
                "BASE_URL": "http://mail.example.test",
                "DATABASE_URL": url,
            }
        )
        try:
            with app.app_context():
                migrations.migrate()
                organization = create_organization("acme", "ACME Corp")
                save_settings(
                    organization,
                    {"smtp_host": HOST, "smtp_port": smtp.port, "encryption": "none",
                     "send_from": "noreply@example.com", "authentication_enable": False},
                    actor="bench",
                )  # fmt: skip
                started = time.perf_counter()
                fill(organization, backlog, history)
                filled = time.perf_counter() - started
                # As a table a year old would be: vacuumed (PostgreSQL) and its statistics fresh.
                db.execute_sql("ANALYZE" if is_sqlite() else "VACUUM ANALYZE outbox_message")
                plan = claim_plan()
                times = []
                for _ in range(claims):
                    started = time.perf_counter()
                    claim = Claim.take(100, lease_seconds=60)
                    times.append(time.perf_counter() - started)
                    claim.release(claim.messages)
                before = smtp.received
                started = time.perf_counter()
                while smtp.received - before < deliver:
                    if not deliver_due(app, 100):
                        break
                elapsed = time.perf_counter() - started
                sent = smtp.received - before
                if is_sqlite():
                    size = os.path.getsize(url.removeprefix("sqlite:///"))
                else:
                    size = db.execute_sql("SELECT pg_database_size(current_database())").fetchone()[0]
                rows = OutboxMessage.select().count()
                db.close()
            return {
                "claim_ms": statistics.median(times) * 1000,
                "rate": sent / elapsed,
                "plan": plan,
                "filled_s": filled,
                "rows": rows,
                "size_mb": size / 1e6,
            }
        finally:
            with app.app_context():
                db.close_all() if hasattr(db.obj, "close_all") else db.close()
            drop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engine", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--scale", type=float, default=1.0, help="of 100k backlog and 1M history")
    parser.add_argument("--claims", type=int, default=30)
    parser.add_argument("--deliver", type=int, default=2000, help="mails delivered for the rate")
    parser.add_argument("--code", help="the checkout whose exastro_mail to run (default: this one)")
    options = parser.parse_args()
    load_code(options.code)

    smtp = LocalSmtpServer().start()
    try:
        small = measure(options.engine, 1000, 0, options.claims, options.deliver, smtp)
        backlog, history = int(100_000 * options.scale), int(1_000_000 * options.scale)
        large = measure(options.engine, backlog, history, options.claims, options.deliver, smtp)
    finally:
        smtp.stop()
    print(f"outbox claim and delivery on {options.engine}, code from {options.code or 'this checkout'}")
    for name, result, shape in (("small", small, "1k queued, no history"),
                                ("large", large, f"{backlog} queued, {history} sent")):  # fmt: skip
        print(
            f"  {name} ({shape}; {result['rows']} rows, {result['size_mb']:.0f} MB, filled in "
            f"{result['filled_s']:.0f} s): claim {result['claim_ms']:.1f} ms (median of {options.claims}), "
            f"delivery {result['rate']:.0f} mails/s"
        )
        print(result["plan"])
    print(
        f"  large / small: claim cost {large['claim_ms'] / small['claim_ms']:.2f}x, "
        f"delivery rate {large['rate'] / small['rate']:.2f}x (goal: rate at least 0.9x)"
    )


if __name__ == "__main__":
    main()
