"""What a claim costs, and how fast the outbox delivers, with a large backlog and years of history.

Two databases per engine: "small" holds a backlog of 1k queued notifications and no history; "large"
a backlog of 100k queued notifications beside 1M sent ones (a year of a busy organization). Both are
filled in bulk (bench/bulk_fill.py; the schema by the app's own migrations), then vacuumed (PostgreSQL)
and given fresh statistics (ANALYZE), as a table a year old would be. Then they take turns, round after
round (small, large, small, large, ...), so that whatever else the machine does weighs on both alike;
in each round each one is timed for
- a claim: Claim.take(100) then giving the batch back, --claims times (median ms);
- delivery: one-pass workers (deliver_due) to a local aiosmtpd until --deliver mails are sent (mails/s);
then each gets its backlog topped up to where it was with as many new queued mails (the small one's
sent mail is deleted, so it keeps no history), and on PostgreSQL both are vacuumed again (VACUUM
ANALYZE, as autovacuum would), before the next round. It prints each round's figures, the median of
the per-round ratios large/small, and the plan of the claim's query on each. The goal (issue 16): the
large one within 0.9x of the small (claim cost at most 1/0.9 = 1.11x, delivery rate at least 0.9x).

--scale shrinks both backlog and history (0.1: 10k queued, 100k sent); --code runs another checkout's
exastro_mail (say /work/main, for the figures before) with this script.

    .venv/bin/python bench/outbox_claim.py --engine sqlite --scale 1
    .venv/bin/python bench/outbox_claim.py --engine postgresql --scale 1 --rounds 7 --code /work/main
"""

import argparse
import contextlib
import os
import secrets
import shutil
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import bulk_fill
from local_smtp import HOST, LocalSmtpServer

POSTGRES_ADMIN = os.environ.get("BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
BODY = "The nightly backup of project {n} finished at 02:13 UTC.\n\nNothing needs to be done.\n" * 3
CHUNK = 1000  # rows of one fill chunk share a timestamp, as they did when each chunk was one INSERT
GOAL = 0.9


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


def rows(organization: int, state: str, count: int, at) -> object:
    """count notifications in state, one timestamp per chunk of CHUNK from at on (a millisecond apart)."""
    for n in range(count):
        when = at + timedelta(milliseconds=n - n % CHUNK)
        yield {
            "organization": organization,
            "kind": "notification",
            "recipients": f'{{"to": ["user{n}@example.net"]}}',
            "subject": f"Backup {n} finished",
            "body_text": BODY.format(n=n),
            "message_id": f"<{secrets.token_hex(16)}@example.com>",
            "status": state,
            "attempts": 1 if state == "sent" else 0,
            "next_attempt_at": when,
            "created_at": when,
            "sent_at": when if state == "sent" else None,
        }


def fill(organization: int, backlog: int, history: int) -> None:
    from exastro_mail.store.models import OutboxMessage, utcnow

    now = utcnow()
    bulk_fill.insert(OutboxMessage, rows(organization, "sent", history, now - timedelta(days=200, hours=1)))
    bulk_fill.insert(OutboxMessage, rows(organization, "queued", backlog, now - timedelta(hours=1)))


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


class Database:
    """One benchmark database: its app, its organization, and what it should hold between rounds."""

    def __init__(self, name: str, engine: str, backlog: int, history: int, smtp):
        from exastro_mail import create_app
        from exastro_mail.auth.accounts import create_organization
        from exastro_mail.mailserver.store import save_settings
        from exastro_mail.store import migrations

        self.name, self.backlog, self.history = name, backlog, history
        self.folder = tempfile.mkdtemp(prefix="exastro-bench-")
        self.url, self._drop = database_url(engine, self.folder)
        self.app = create_app(
            {
                "INSTANCE_PATH": os.path.join(self.folder, "instance"),
                "BASE_URL": "http://mail.example.test",
                "DATABASE_URL": self.url,
                "SMTP_ALLOWED_HOSTS": HOST,  # the local aiosmtpd (loopback is refused by default)
                # VACUUM ANALYZE of 1.1M rows takes longer than the default deadline (5 s); the deadline's
                # value costs nothing while it is not reached (docs/deploy.md: maintenance gets 600).
                "DATABASE_TIMEOUT": 600,
            }
        )
        with self.app.app_context():
            migrations.migrate()
            organization = create_organization("acme", "ACME Corp")
            save_settings(
                organization,
                {"smtp_host": HOST, "smtp_port": smtp.port, "encryption": "none",
                 "send_from": "noreply@example.com", "authentication_enable": False},
                actor="bench",
            )  # fmt: skip
            self.organization = organization.id
            started = time.perf_counter()
            fill(self.organization, backlog, history)
            self.filled_s = time.perf_counter() - started
            self.maintain()
            self.plan = claim_plan()

    def maintain(self) -> None:
        """As a table a year old would be: vacuumed (PostgreSQL) and its statistics fresh."""
        from exastro_mail.store.db import db, is_sqlite

        db.execute_sql("ANALYZE" if is_sqlite() else "VACUUM ANALYZE outbox_message")

    def claim_ms(self, claims: int) -> float:
        from exastro_mail.outbox.claim import Claim

        times = []
        with self.app.app_context():
            for _ in range(claims):
                started = time.perf_counter()
                claim = Claim.take(100, lease_seconds=60)
                times.append(time.perf_counter() - started)
                claim.release(claim.messages)
        return statistics.median(times) * 1000

    def delivery_rate(self, deliver: int, smtp) -> tuple[float, int]:
        """Mails per second until deliver mails reached the SMTP server, and how many did."""
        from exastro_mail.outbox.worker import deliver_due

        before = smtp.received
        started = time.perf_counter()
        while smtp.received - before < deliver:
            if not deliver_due(self.app, 100):
                break
        elapsed = time.perf_counter() - started
        sent = smtp.received - before
        return sent / elapsed, sent

    def top_up(self) -> None:
        """The backlog back to its size with new queued mail; the small one's sent mail deleted; on
        PostgreSQL a VACUUM ANALYZE (SQLite's statistics do not move with a few hundred rows)."""
        from exastro_mail.store.db import db, is_sqlite
        from exastro_mail.store.models import OutboxMessage, utcnow

        with self.app.app_context():
            queued = OutboxMessage.select().where(OutboxMessage.status == "queued").count()
            missing = self.backlog - queued
            if missing > 0:
                bulk_fill.insert(
                    OutboxMessage, rows(self.organization, "queued", missing, utcnow() - timedelta(minutes=1))
                )
            if not self.history:
                OutboxMessage.delete().where(OutboxMessage.status != "queued").execute()
            if not is_sqlite():
                self.maintain()
            db.close()

    def describe(self) -> dict:
        from exastro_mail.store.db import db, is_sqlite
        from exastro_mail.store.models import OutboxMessage

        with self.app.app_context():
            if is_sqlite():
                size = os.path.getsize(self.url.removeprefix("sqlite:///"))
            else:
                size = db.execute_sql("SELECT pg_database_size(current_database())").fetchone()[0]
            count = OutboxMessage.select().count()
            db.close()
        return {"rows": count, "size_mb": size / 1e6}

    def close(self) -> None:
        from exastro_mail.store.db import db

        with self.app.app_context(), contextlib.suppress(Exception):
            db.close_all() if hasattr(db.obj, "close_all") else db.close()
        self._drop()
        shutil.rmtree(self.folder, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engine", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--scale", type=float, default=1.0, help="of 100k backlog and 1M history")
    parser.add_argument("--rounds", type=int, default=7, help="alternating rounds (default 7)")
    parser.add_argument("--claims", type=int, default=20, help="claims timed per round (default 20)")
    parser.add_argument(
        "--deliver", type=int, default=500, help="mails delivered per round for the rate (default 500)"
    )
    parser.add_argument("--code", help="the checkout whose exastro_mail to run (default: this one)")
    options = parser.parse_args()
    load_code(options.code)
    backlog, history = int(100_000 * options.scale), int(1_000_000 * options.scale)
    load_at_start = os.getloadavg()

    smtp = LocalSmtpServer().start()
    databases = []
    try:
        small = Database("small", options.engine, 1000, 0, smtp)
        databases.append(small)
        large = Database("large", options.engine, backlog, history, smtp)
        databases.append(large)
        shape = {small: "1k queued, no history", large: f"{backlog} queued, {history} sent"}
        described = {database: database.describe() for database in databases}
        rounds = []
        for _ in range(options.rounds):
            figures = {}
            for database in databases:
                claim = database.claim_ms(options.claims)
                rate, sent = database.delivery_rate(options.deliver, smtp)
                figures[database.name] = {"claim_ms": claim, "rate": rate, "sent": sent}
            for database in databases:
                database.top_up()
            rounds.append(figures)
    finally:
        for database in databases:
            database.close()
        smtp.stop()
    _print(options, databases, shape, described, rounds, load_at_start)


def _print(options, databases, shape, described, rounds, load_at_start) -> None:
    load = "/".join(f"{value:.2f}" for value in load_at_start)
    print(
        f"outbox claim and delivery on {options.engine}, code from {options.code or 'this checkout'}; "
        f"{options.rounds} rounds (small, large, small, large, ...), each: {options.claims} claims of 100 "
        f"(median), then delivery until {options.deliver} mails are sent; load average at start {load}"
    )
    for database in databases:
        size = described[database]
        print(
            f"  {database.name} ({shape[database]}; {size['rows']} rows, {size['size_mb']:.0f} MB, "
            f"filled in {database.filled_s:.0f} s); plan of the claim's query:"
        )
        print(database.plan)
    print()
    head = ["round", "small: claim ms", "small: mails/s", "large: claim ms", "large: mails/s"]
    print("| " + " | ".join([*head, "claim large/small", "rate large/small"]) + " |")
    print("|" + " ---: |" * (len(head) + 2))
    claim_ratios, rate_ratios = [], []
    for number, figures in enumerate(rounds, 1):
        small, large = figures["small"], figures["large"]
        claim_ratios.append(large["claim_ms"] / small["claim_ms"])
        rate_ratios.append(large["rate"] / small["rate"])
        cells = [str(number)]
        for one in (small, large):
            short = f" ({one['sent']} sent)" if one["sent"] < options.deliver else ""
            cells += [f"{one['claim_ms']:.1f}", f"{one['rate']:.0f}{short}"]
        print("| " + " | ".join([*cells, f"{claim_ratios[-1]:.2f}x", f"{rate_ratios[-1]:.2f}x"]) + " |")
    claim, rate = statistics.median(claim_ratios), statistics.median(rate_ratios)
    cells = ["median"]
    for name in ("small", "large"):
        cells.append(f"{statistics.median(figures[name]['claim_ms'] for figures in rounds):.1f}")
        cells.append(f"{statistics.median(figures[name]['rate'] for figures in rounds):.0f}")
    print("| " + " | ".join([*cells, f"**{claim:.2f}x**", f"**{rate:.2f}x**"]) + " |")
    print()
    print(
        f"  large / small, median of the per-round ratios: claim cost {claim:.2f}x "
        f"(goal: at most {1 / GOAL:.2f}x: {'met' if claim <= 1 / GOAL else 'NOT met'}), "
        f"delivery rate {rate:.2f}x (goal: at least {GOAL}x: {'met' if rate >= GOAL else 'NOT met'})"
    )
    print(f"  load average at end {'/'.join(f'{value:.2f}' for value in os.getloadavg())}")


if __name__ == "__main__":
    main()
