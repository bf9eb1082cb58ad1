"""What the delivery log and the audit log pages cost with 1k rows of history and with many more (issue 16).

    .venv/bin/python bench/history_scale.py [--rows 1000,1000000] [--engines sqlite,postgresql]
        [--before /tmp/exm-before] [--requests 15]

For each engine and row count it makes a fresh database, fills one organization's delivery log
(outbox_message) and audit log (audit_event) with that many rows each, spread over a year (88% sent,
10% failed, 2% queued, so that even 1k rows fill several filtered pages; ten kinds of audit event by
five people), and times the pages as an admin asks for them, in-process through Flask's test client
(the page rendered whole; no network, so nothing but the app's cost is in the figures): the first page,
a deep page (the middle of the log) and the last page, and the same filtered (delivery: status failed;
audit: one action). The databases of an engine take turns request by request, so that other work on
the machine weighs on each alike. Each figure is the median (and, in a second table, the fastest) of
--requests requests after two warm-up ones. It prints the tables, the ratio of each page at the largest
row count to the same page at the smallest (the goal: at most 1.3), and what the tables weigh.

With --before DIR (a copy of an older exastro-mail, e.g. `git archive main | tar -x -C DIR`), each
database is filled and timed by that code first, then migrated by this one and timed again: the same
rows, before and after. Pages are numbered (?page=N) in the older code and reached by keyset here
(?before=<cursor>, ?at=oldest); the script asks each for its own kind.

PostgreSQL: --postgres-url names a server database from which the script creates and drops its own
(history_bench_<rows>). Everything runs on this machine; every database it makes (SQLite files too) is
removed at the end.
"""

import argparse
import contextlib
import itertools
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import bulk_fill

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "correct horse battery staple"  # noqa: S105  # nosec B105  # the bench admin's, on a throwaway database
STATUSES = ["sent"] * 88 + ["failed"] * 10 + ["queued"] * 2
ACTIONS = [
    "login",
    "notification.queued",
    "notification.queued",
    "notification.queued",
    "mail_server_settings.changed",
    "api_token.created",
    "outbox.retried",
    "login_failed",
    "password_reset.requested",
    "mail_server_settings.test_mail",
]
ACTORS = ["admin", "alice", "bob", "ops-robot", "api"]
BODY = ("Disk /var on host app-17 is 91% full. " * 12)[:400]
CHUNK = 5000


# Filling, ANALYZE and the migrations that index a million rows take longer than the database deadline a
# page gets (EXASTRO_MAIL_DATABASE_TIMEOUT, 5 s); the benchmark fills and migrates in-process, where
# init-db's own deadline (EXASTRO_MAIL_MAINTENANCE_DATABASE_TIMEOUT) does not apply.
MAINTENANCE_TIMEOUT = 600


def _app(url: str, instance: str, **extra):
    from exastro_mail import create_app

    return create_app(
        {
            "DATABASE_URL": url,
            "INSTANCE_PATH": instance,
            "WTF_CSRF_ENABLED": False,
            "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000",
            "LOGIN_LIMIT_PER_CLIENT": "100000 per minute",
            **extra,
        }
    )


def fill(url: str, instance: str, rows: int) -> dict:
    """Schema, organization acme with admin, and rows of delivery and audit history; seconds taken."""
    from exastro_mail.auth.accounts import create_organization, create_user
    from exastro_mail.store import migrations
    from exastro_mail.store.db import db
    from exastro_mail.store.models import AuditEvent, OutboxMessage

    app = _app(url, instance, DATABASE_TIMEOUT=MAINTENANCE_TIMEOUT)
    started = time.monotonic()
    with app.app_context():
        migrations.migrate()
        org = create_organization("acme", "ACME Corp")
        create_user(org, "admin", "admin@example.com", PASSWORD, admin=True)
        start, step = datetime(2025, 1, 1), timedelta(days=365) / rows
        recipients = json.dumps({"to": ["ops@example.com", "oncall@example.com"], "cc": [], "bcc": []})
        mails = (_mail(org.id, n, start + step * n, recipients) for n in range(rows))
        events = (_event(org.id, n, start + step * n) for n in range(rows))
        if os.environ.get("BENCH_SLOW_FILL"):  # peewee's insert_many as before, to check the bulk fill
            for chunk in iter(lambda: list(itertools.islice(mails, CHUNK)), []):
                with db.atomic():
                    OutboxMessage.insert_many(chunk).execute()
            for chunk in iter(lambda: list(itertools.islice(events, CHUNK)), []):
                with db.atomic():
                    AuditEvent.insert_many(chunk).execute()
        else:  # the same rows and values, in bulk (bench/bulk_fill.py)
            bulk_fill.insert(OutboxMessage, mails)
            bulk_fill.insert(AuditEvent, events)
        _analyze(db)
    return {"fill_seconds": round(time.monotonic() - started, 1)}


def _mail(organization: int, n: int, at: datetime, recipients: str) -> dict:
    """Delivery log row n of a fill: 88% sent, 10% failed, 2% queued, in a fixed order."""
    status = STATUSES[n % len(STATUSES)]
    return {
        "organization": organization,
        "kind": "notification",
        "recipients": recipients,
        "subject": f"Disk almost full on app-{n % 50}",
        "body_text": BODY,
        "message_id": f"<bench-{n}@example.com>",
        "status": status,
        "attempts": 1,
        "next_attempt_at": at,
        "last_error": "550 5.1.1 no such user" if status == "failed" else None,
        "created_at": at,
        "sent_at": at if status == "sent" else None,
    }


def _event(organization: int, n: int, at: datetime) -> dict:
    """Audit log row n of a fill: ten kinds of event by five people, in a fixed order."""
    return {
        "organization": organization,
        "actor": ACTORS[n % len(ACTORS)],
        "action": ACTIONS[n % len(ACTIONS)],
        "detail": json.dumps({"notification_id": n, "kind": "notification"}),
        "remote_addr": "192.0.2.10",
        "created_at": at,
    }


def dump(url: str, instance: str) -> dict:
    """Every column of every row of both logs, in id order, as text."""
    from exastro_mail.store.db import db

    with _app(url, instance).app_context():
        return {
            table: [
                [str(value) for value in row]
                for row in db.execute_sql(f"SELECT * FROM {table} ORDER BY id")  # noqa: S608
            ]
            for table in ("outbox_message", "audit_event")
        }


def check_fill(engine: str, rows: int, options) -> None:
    """Fill two databases with rows rows each, by peewee's insert_many and in bulk; compare them."""
    dumps, seconds = [], []
    for slow in (True, False):
        name = f"history_check_{'slow' if slow else 'bulk'}"
        folder = tempfile.mkdtemp(prefix=f"history-check-{engine}-")
        instance = str(Path(folder) / "instance")
        if engine == "sqlite":
            url = f"sqlite:///{folder}/history.sqlite3"
        else:
            url = _server_database(options.postgres_url, name)
        try:
            flag = {"BENCH_SLOW_FILL": "1"} if slow else {}
            args = ("--rows", str(rows), "--url", url, "--instance", instance)
            seconds.append(_run(options.before, "--phase", "fill", *args, **flag)["fill_seconds"])
            dumps.append(_run(options.before, "--phase", "dump", *args))
        finally:
            shutil.rmtree(folder, ignore_errors=True)
            if engine != "sqlite":
                _server_database(options.postgres_url, name, drop=True)
    for table in dumps[0]:
        slow, bulk = dumps[0][table], dumps[1][table]
        same = slow == bulk
        differ = next((n for n, (a, b) in enumerate(zip(slow, bulk, strict=False)) if a != b), None)
        print(
            f"{engine} {table}: {len(slow)} rows by insert_many, {len(bulk)} in bulk: "
            + ("identical, every column" if same else f"DIFFERENT (first at row {differ})")
        )
    print(f"{engine}: filled in {seconds[0]} s by insert_many, {seconds[1]} s in bulk")


def _analyze(db) -> None:
    """Fresh statistics, as a server's autovacuum (or SQLite's optimize) would have them by now."""
    from exastro_mail.store.db import is_sqlite

    db.execute_sql("ANALYZE")
    if is_sqlite():
        db.execute_sql("PRAGMA wal_checkpoint(TRUNCATE)")


def _targets(app, client, log: str, filtered: dict) -> dict:
    """The URLs of the first, a deep and the last page of a log, as this code pages."""
    from exastro_mail.store.models import AuditEvent, OutboxMessage

    model = OutboxMessage if log == "mail-log" else AuditEvent
    base = f"/acme/platform/{log}"
    try:
        from exastro_mail.logs.paging import Cursor
    except ImportError:  # the older code: numbered pages, 25 rows each
        Cursor = None
    urls = {}
    if Cursor is None and log == "audit-log":
        filtered = None  # the older audit log has no filters
    for label, args in (("all", {}), ("filtered", filtered)):
        if args is None:
            continue
        query = model.select(model.id, model.created_at)
        for name, value in args.items():
            query = query.where(getattr(model, {"status": "status", "action": "action"}[name]) == value)
        with app.app_context():
            total = query.count()
            middle = (
                query.order_by(model.created_at.desc(), model.id.desc()).offset(total // 2).limit(1).first()
            )
        extra = "".join(f"&{name}={value}" for name, value in args.items())
        if Cursor is None:
            last = max(1, -(-total // 25))
            urls[f"{label} first"] = f"{base}?page=1{extra}"
            urls[f"{label} deep"] = f"{base}?page={max(1, last // 2)}{extra}"
            urls[f"{label} last"] = f"{base}?page={last}{extra}"
        else:
            urls[f"{label} first"] = f"{base}?{extra[1:]}"
            urls[f"{label} deep"] = f"{base}?before={Cursor.of(middle).token}{extra}"
            urls[f"{label} last"] = f"{base}?at=oldest{extra}"
    return urls


def measure(urls: list, instances: list, requests: int) -> list:
    """Median and fastest milliseconds of each page of each database, and what its tables weigh.

    The databases take turns request by request, so that whatever else the machine does meanwhile
    weighs on each the same."""
    from exastro_mail.store import migrations
    from exastro_mail.store.db import db

    apps, clients, targets = [], [], []
    for url, instance in zip(urls, instances, strict=True):
        with _app(url, instance, DATABASE_TIMEOUT=MAINTENANCE_TIMEOUT).app_context():
            migrations.migrate()  # the newer code adds its indexes here, as `exastro-mail init-db` would
            db.close()
        app = _app(url, instance)  # the pages get the default deadline
        client = app.test_client()
        response = client.post("/acme/login", data={"username": "admin", "password": PASSWORD})
        assert response.status_code == 302, response.status_code
        pages = {}
        for log, filtered in (
            ("mail-log", {"status": "failed"}),
            ("audit-log", {"action": "api_token.created"}),
        ):
            pages.update(
                {f"{log} {label}": url for label, url in _targets(app, client, log, filtered).items()}
            )
        apps.append(app)
        clients.append(client)
        targets.append(pages)
    results = [{} for _ in urls]
    for page in targets[0]:
        times = [[] for _ in urls]
        for n in range(requests + 2):
            for which, client in enumerate(clients):
                started = time.perf_counter()
                response = client.get(targets[which][page])
                elapsed = time.perf_counter() - started
                assert response.status_code == 200 and b"<tr" in response.data, (page, response.status_code)
                if n >= 2:
                    times[which].append(elapsed * 1000)
        for which, taken in enumerate(times):
            results[which][page] = round(statistics.median(taken), 2)
            results[which][f"best {page}"] = round(min(taken), 2)
    for which, app in enumerate(apps):
        with app.app_context():
            results[which]["sizes"] = _sizes(urls[which])
    return results


def _sizes(url: str) -> dict:
    from exastro_mail.store.db import db, is_sqlite

    if is_sqlite():
        (pages,) = db.execute_sql("PRAGMA page_count").fetchone()
        (size,) = db.execute_sql("PRAGMA page_size").fetchone()
        tables = {}
        with contextlib.suppress(Exception):  # SQLite built without dbstat: the file only
            for name, used in db.execute_sql(
                "SELECT name, SUM(pgsize) FROM dbstat WHERE name LIKE 'outbox_message%' "
                "OR name LIKE 'audit_event%' GROUP BY name"
            ):
                tables[name] = used
        return {"file_bytes": pages * size, "objects": tables}
    sizes = {}
    for table in ("outbox_message", "audit_event"):
        (total,) = db.execute_sql(f"SELECT pg_total_relation_size('{table}')").fetchone()  # noqa: S608
        sizes[table] = total
    return {"objects": sizes}


def _server_database(admin_url: str, name: str, drop: bool = False) -> str:
    import psycopg2

    parts = urlsplit(admin_url)
    connection = psycopg2.connect(
        host=parts.hostname, port=parts.port or 5432, user=parts.username or "postgres", dbname=parts.path[1:]
    )
    connection.autocommit = True
    with connection.cursor() as cursor:
        cursor.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        if not drop:
            cursor.execute(f"CREATE DATABASE {name}")
    connection.close()
    return urlunsplit(parts._replace(path=f"/{name}"))


def _run(code: Path | None, *args, **extra_env) -> dict:
    """A phase in its own interpreter, on this code or on the older copy (PYTHONPATH first)."""
    env = {**os.environ, **extra_env}
    if code is not None:
        env["PYTHONPATH"] = str(code)
    done = subprocess.run(  # noqa: S603  # this script, with our own arguments
        [sys.executable, __file__, *args], env=env, check=False, capture_output=True, text=True
    )
    if done.returncode != 0:
        raise SystemExit(f"phase {args[1]} on {code or 'this code'} failed:\n{done.stderr[-3000:]}")
    output = done.stdout
    return json.loads(output.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", default="1000,1000000")
    parser.add_argument("--engines", default="sqlite,postgresql")
    parser.add_argument("--before", type=Path, help="a copy of the older code to time first")
    parser.add_argument("--requests", type=int, default=15)
    parser.add_argument("--postgres-url", default="postgresql://postgres@127.0.0.1:5432/test?sslmode=disable")
    parser.add_argument("--json", type=Path, help="also write every figure here")
    parser.add_argument(
        "--check-fill",
        type=int,
        metavar="ROWS",
        help="only check that the bulk fill stores the same rows as peewee's insert_many, at ROWS rows",
    )
    parser.add_argument("--phase", choices=("fill", "measure", "dump"), help=argparse.SUPPRESS)
    parser.add_argument("--url", action="append", help=argparse.SUPPRESS)
    parser.add_argument("--instance", action="append", help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.phase == "fill":
        print(json.dumps(fill(options.url[0], options.instance[0], int(options.rows))))
        return
    if options.phase == "measure":
        print(json.dumps(measure(options.url, options.instance, options.requests)))
        return
    if options.phase == "dump":
        print(json.dumps(dump(options.url[0], options.instance[0])))
        return
    if options.check_fill:
        for engine in options.engines.split(","):
            check_fill(engine, options.check_fill, options)
        return
    report = []
    for engine in options.engines.split(","):
        load_at_start = _load()
        report += _engine(engine, [int(n) for n in options.rows.split(",")], options)
        print(f"\n{engine}: load average at start {load_at_start}, at end {_load()}")
        _print(report)
    if options.json:
        options.json.write_text(json.dumps(report, indent=1))


def _engine(engine: str, counts: list, options) -> list:
    """Fill a database per row count, then time them side by side: older code, then this one."""
    urls, instances = [], []
    for rows in counts:
        folder = tempfile.mkdtemp(prefix=f"history-{engine}-{rows}-")
        instances.append(str(Path(folder) / "instance"))
        if engine == "sqlite":
            urls.append(f"sqlite:///{folder}/history.sqlite3")
        else:
            urls.append(_server_database(options.postgres_url, f"history_bench_{rows}"))
    try:
        runs = []
        for rows, url, instance in zip(counts, urls, instances, strict=True):
            filled = _run(
                options.before, "--phase", "fill", "--rows", str(rows), "--url", url, "--instance", instance
            )
            print(f"{engine} {rows} rows: filled in {filled['fill_seconds']} s", file=sys.stderr, flush=True)
            runs.append({"engine": engine, "rows": rows, **filled})
        every = [
            *(
                arg
                for pair in zip(urls, instances, strict=True)
                for arg in ("--url", pair[0], "--instance", pair[1])
            )
        ]
        phases = [("before", options.before)] if options.before is not None else []
        for phase, code in [*phases, ("after", None)]:
            figures = _run(code, "--phase", "measure", "--requests", str(options.requests), *every)
            for run, measured in zip(runs, figures, strict=True):
                run[phase] = measured
        return runs
    finally:
        for rows, instance in zip(counts, instances, strict=True):
            shutil.rmtree(Path(instance).parent, ignore_errors=True)  # the instance folder (and SQLite file)
            if engine != "sqlite":
                _server_database(options.postgres_url, f"history_bench_{rows}", drop=True)


def _load() -> str:
    return "/".join(f"{value:.2f}" for value in os.getloadavg())


def _print(report: list) -> None:
    print()
    for phase in ("before", "after"):
        runs = [run for run in report if phase in run]
        if not runs:
            continue
        for best in (False, True):
            _table(runs, phase, best)
    for run in report:
        sizes = run["after"]["sizes"]
        print(f"sizes {run['engine']} {run['rows']} rows: {json.dumps(sizes)}")
    for run in report:
        objects = run["after"]["sizes"]["objects"]
        weights = [
            sum(size for name, size in objects.items() if name.startswith(table)) / run["rows"]
            for table in ("outbox_message", "audit_event")
        ]
        print(
            f"bytes per row, {run['engine']} at {run['rows']} rows (table and its indexes): "
            f"delivery log {weights[0]:.0f}, audit log {weights[1]:.0f}"
        )


def _table(runs: list, phase: str, best: bool) -> None:
    """One Markdown table: each page's figure per run, and the largest run's over the smallest's."""
    pages = [key for key in runs[0][phase] if key != "sizes" and key.startswith("best ") == best]
    pages = [page for page in pages if all(page in run[phase] for run in runs)]
    what = "fastest of the requests" if best else "median"
    print(f"## {phase}: {what}, ms per page (in-process)")
    print("| engine | rows | " + " | ".join(page.removeprefix("best ") for page in pages) + " |")
    print("| --- | --- |" + " --- |" * len(pages))
    for run in runs:
        figures = " | ".join(f"{run[phase][page]:.1f}" for page in pages)
        print(f"| {run['engine']} | {run['rows']} | {figures} |")
    for engine in dict.fromkeys(run["engine"] for run in runs):
        mine = sorted((run for run in runs if run["engine"] == engine), key=lambda run: run["rows"])
        if len(mine) > 1:
            small, large = mine[0][phase], mine[-1][phase]
            ratios = " | ".join(f"{large[page] / small[page]:.2f}" for page in pages)
            print(f"| {engine} | ratio {mine[-1]['rows']}/{mine[0]['rows']} | {ratios} |")
    print()


if __name__ == "__main__":
    main()
