"""What the database deadline and the metrics cost: a PostgreSQL query waited for by libpq itself or by
our wait callback (store/timeouts.py), a page with metrics off and on, and a scrape of /metrics with a
backlog in the outbox.

    .venv/bin/python bench/runtime_overhead.py [--queries 3000] [--requests 2000] [--backlog 10000]
        [--postgres postgresql://postgres@127.0.0.1:5432/test]

In-process (the Flask test client, SQLite in a temporary folder), so the figures are the app's own
cost, without HTTP. The PostgreSQL part is skipped when the server cannot be reached.
"""

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

TOKEN = "bench-metrics-token-0123456789"  # noqa: S105  # made up for the run


def median_us(run, times: int) -> float:
    """Median microseconds of run(), after a warm-up."""
    for _ in range(min(100, times)):
        run()
    samples = []
    for _ in range(times):
        started = time.perf_counter()
        run()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples) * 1e6


def postgres_wait(url: str, queries: int, rounds: int = 5) -> dict | None:
    """SELECT 1 on one connection, libpq blocking or through our callback: the lowest of the medians of
    alternating rounds."""
    import psycopg2
    import psycopg2.extensions

    from exastro_mail.store import timeouts

    figures: dict[str, float] = {}
    ways = (("libpq blocking", None), ("our wait callback", timeouts.wait_with_deadline))
    for _ in range(rounds):
        for name, callback in ways:
            psycopg2.extensions.set_wait_callback(callback)
            try:
                conn = psycopg2.connect(url, connection_factory=timeouts._timed_connection_class(5.0))
            except psycopg2.OperationalError as error:
                print(f"PostgreSQL skipped: {error}".strip())
                return None
            conn.autocommit = True
            cursor = conn.cursor()
            median = median_us(
                lambda cursor=cursor: (cursor.execute("SELECT 1"), cursor.fetchone()), queries // rounds
            )
            figures[name] = min(figures.get(name, median), median)
            conn.close()
    psycopg2.extensions.set_wait_callback(None)
    return figures


def app_on(folder: Path, **config):
    from exastro_mail import create_app
    from exastro_mail.store import migrations

    app = create_app({"INSTANCE_PATH": str(folder), "TESTING": True, **config})
    with app.app_context():
        migrations.migrate()
    return app


def pages(folder: Path, requests: int, rounds: int = 5) -> dict:
    """Per path and setting, the lowest of the medians of alternating rounds (the machine is shared)."""
    from exastro_mail import metrics_registry
    from exastro_mail.auth.accounts import create_organization

    clients = {}
    for name, config in (("metrics off", {}), ("metrics on", {"METRICS_TOKEN": TOKEN})):
        app = app_on(folder / name.replace(" ", "-"), **config)
        with app.app_context():
            create_organization("acme", "ACME")
        clients[name] = app.test_client()
    figures: dict[str, float] = {}
    for _ in range(rounds):
        for path in ("/healthz", "/acme/login"):
            for name, client in clients.items():
                median = median_us(lambda client=client, path=path: client.get(path), requests // rounds)
                key = f"{path}, {name}"
                figures[key] = min(figures.get(key, median), median)
    figures["one latency sample recorded"] = median_us(
        lambda: metrics_registry.request_answered("auth.login", 200, 0.001), requests
    )
    return figures


def scrape(folder: Path, backlog: int) -> dict:
    from exastro_mail.auth.accounts import create_organization
    from exastro_mail.outbox.enqueue import enqueue_mail
    from exastro_mail.store.db import db

    app = app_on(folder / "scrape", METRICS_TOKEN=TOKEN)
    with app.app_context():
        organization = create_organization("acme", "ACME")
        with db.atomic():
            for number in range(backlog):
                enqueue_mail(
                    organization,
                    "notification",
                    to=["someone@example.net"],
                    subject="s",
                    body_text=f"{number}",
                )
    client = app.test_client()
    headers = {"Authorization": f"Bearer {TOKEN}"}
    return {f"/metrics with {backlog} queued": median_us(lambda: client.get("/metrics", headers=headers), 50)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=3000)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--backlog", type=int, default=10000)
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/test?sslmode=disable")
    options = parser.parse_args()
    figures = {}
    figures.update(
        {
            f"PostgreSQL SELECT 1, {k}": v
            for k, v in (postgres_wait(options.postgres, options.queries) or {}).items()
        }
    )
    with tempfile.TemporaryDirectory() as folder:
        figures.update(pages(Path(folder), options.requests))
        figures.update(scrape(Path(folder), options.backlog))
    print("| what | median µs |\n| --- | ---: |")
    for name, value in figures.items():
        print(f"| {name} | {value:.0f} |")


if __name__ == "__main__":
    main()
