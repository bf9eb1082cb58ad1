"""A database that hangs without refusing: `exastro-mail serve` answers 503 within the database timeout
(EXASTRO_MAIL_DATABASE_TIMEOUT, 5 s) instead of going silent until gunicorn kills its worker, logs the
outage once per interval with a count, and serves again once the database answers."""

import logging
import os
import time
import urllib.error
import urllib.request
from urllib.parse import urlsplit, urlunsplit

import pytest

from exastro_mail import create_app
from exastro_mail.config import ConfigError
from exastro_mail.store import migrations
from exastro_mail.store.db import close_all, open_database
from exastro_mail.web.throttled_log import ThrottledLog
from tests.conftest import build_app, make_org
from tests.engine_fixtures import SERVER_URLS, ServerDatabases
from tests.frozen_proxy import FrozenProxy
from tests.test_serve_under_attack import EXASTRO_MAIL
from tests.test_worker_processes import Processes, free_port, wait_until

PAGE = "/acme/login"
METRICS_TOKEN = "scraper-token-0123456789abcdef"  # a page that reads the organization from the database


# Seconds the first page may take once the database hangs: MariaDB pings a pooled connection before
# handing it out, and only then opens a new one, each waiting the timeout (PostgreSQL shares one budget).
FIRST_PAGE_SECONDS = {"postgres": 6.5, "mariadb": 11.5}
# What the log gives as the reason: our deadline, or PyMySQL's socket timeout.
HANG_REASON = {"postgres": "did not answer within 5 s", "mariadb": "timed out"}


@pytest.fixture
def database_behind_a_proxy(request, tmp_path):
    """A database on the server engine with the schema and organization acme, reached through a
    FrozenProxy: (engine, proxy, the URL through the proxy)."""
    from tests.engine_fixtures import ENGINE

    engine = ENGINE  # each server engine's run freezes its own server (only_on below)
    databases = ServerDatabases(engine, SERVER_URLS[engine])
    databases.run += "h"  # apart from the databases of a run on that engine (tests/engine_fixtures.py)
    problem = databases.unreachable()
    if problem is not None:
        if os.environ.get("CI"):
            pytest.fail(problem)
        pytest.skip(problem)
    direct = urlsplit(databases.make_empty())
    proxy = FrozenProxy((direct.hostname, direct.port))
    url = urlunsplit(direct._replace(netloc=f"{direct.username}@127.0.0.1:{proxy.port}"))
    app = create_app({"INSTANCE_PATH": str(tmp_path / "instance"), "DATABASE_URL": url})
    with app.app_context():
        migrations.migrate()
        make_org()
    close_all(app.extensions["exastro_mail.db"])
    yield engine, proxy, url
    proxy.close()
    databases.drop_all()


def answer(url: str, headers=None) -> tuple[int, float, bytes]:
    """(status, seconds, body) of a GET; status 0 when the connection was reset or timed out."""
    started = time.monotonic()
    try:
        with urllib.request.urlopen(
            urllib.request.Request(url, headers=headers or {}), timeout=30
        ) as response:
            return response.status, time.monotonic() - started, response.read()
    except urllib.error.HTTPError as error:
        return error.code, time.monotonic() - started, error.read()
    except OSError:
        return 0, time.monotonic() - started, b""


@pytest.mark.only_on("postgres", "mariadb")
def test_pages_answer_503_in_time_while_the_database_hangs_and_the_log_counts_instead_of_repeating(
    tmp_path, database_behind_a_proxy
):
    engine, proxy, url = database_behind_a_proxy
    port = free_port()
    env = {
        **os.environ,
        "EXASTRO_MAIL_INSTANCE_PATH": str(tmp_path / "instance"),
        "EXASTRO_MAIL_DATABASE_URL": url,
        "EXASTRO_MAIL_DATABASE_ERROR_LOG_SECONDS": "12",
        "EXASTRO_MAIL_METRICS_TOKEN": METRICS_TOKEN,
    }
    processes = Processes(tmp_path)
    server = processes.start(
        [EXASTRO_MAIL, "serve", "--port", str(port), "--workers", "1", "--no-outbox-worker"], env
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: answer(base + PAGE)[0] == 200, 20, "the server to answer")
        proxy.freeze()
        answers = [answer(base + PAGE) for _ in range(4)]  # about 5 s each
        scrape = answer(base + "/metrics", {"Authorization": f"Bearer {METRICS_TOKEN}"})
        proxy.thaw()
        wait_until(lambda: answer(base + PAGE)[0] == 200, 10, "the server to answer again")
    finally:
        processes.stop_all()
    assert [status for status, _, _ in answers] == [503] * 4
    assert answers[0][1] < FIRST_PAGE_SECONDS[engine], answers
    assert all(seconds < 6.5 for _, seconds, _ in answers[1:]), answers
    assert b"cannot reach its database" in answers[0][2]
    # A scraper learns it in time too, from a page that answers.
    assert scrape[0] == 200 and scrape[1] < 6.5, scrape[:2]
    assert b"\nexastro_mail_database_up 0.0\n" in scrape[2]
    lines = [line for line in processes.output(server).splitlines() if "Database unavailable" in line]
    # The first at once; the next once the interval has passed, with how many came in between.
    assert len(lines) == 2, lines
    assert HANG_REASON[engine] in lines[0]
    assert "2 more like it" in lines[1]
    assert "Traceback" not in processes.all_output()


def test_a_database_that_was_never_set_up_answers_503_and_the_log_says_to_run_init_db(tmp_path, caplog):
    from tests.engine_fixtures import empty_database_url

    app = create_app(
        {"INSTANCE_PATH": str(tmp_path / "instance"), "DATABASE_URL": empty_database_url(tmp_path)}
    )
    try:
        client = app.test_client()
        pages = [client.get(PAGE) for _ in range(3)]
    finally:
        close_all(app.extensions["exastro_mail.db"])
    assert [page.status_code for page in pages] == [503] * 3
    hints = [record.getMessage() for record in caplog.records if "init-db" in record.getMessage()]
    assert len(hints) == 1, hints  # told once, not for every request
    assert "The database has no tables yet" in hints[0]


@pytest.mark.only_on("postgres", "mariadb")  # SQLite has no server: it keeps its busy timeout
def test_every_query_has_a_deadline_on_the_server_too(tmp_path):
    from tests.engine_fixtures import ENGINE, SERVER

    database = open_database(SERVER.url(urlsplit(SERVER.admin_url).path.lstrip("/")), 2.5)
    try:
        if ENGINE == "postgres":
            settings = [database.execute_sql("SHOW statement_timeout").fetchone()[0]]
        else:
            settings = list(database.execute_sql("SELECT @@max_statement_time, @@tx_isolation").fetchone())
    finally:
        close_all(database)
    assert settings == (["2500ms"] if ENGINE == "postgres" else [2.5, "READ-COMMITTED"])


def test_an_outage_is_logged_at_once_then_once_per_interval_with_the_count(caplog):
    log = ThrottledLog(logging.getLogger("exastro_mail.test"), interval_seconds=0.3)
    for number in range(5):
        log.error("unavailable", "Database unavailable on request %d", number)
    log.error("schema", "No tables")  # another kind of error has its own count
    time.sleep(0.35)
    log.error("unavailable", "Database unavailable on request %d", 5)
    lines = [record.getMessage() for record in caplog.records]
    assert len(lines) == 3, lines
    assert lines[0].startswith("Database unavailable on request 0 (repeats are counted")
    assert lines[1].startswith("No tables")
    assert lines[2].startswith("Database unavailable on request 5 (4 more like it in the 0 s since")


@pytest.mark.parametrize("setting", ["DATABASE_TIMEOUT", "DATABASE_ERROR_LOG_SECONDS"])
@pytest.mark.parametrize("value", ["soon", 0, -5])
def test_a_timeout_that_is_not_a_positive_number_stops_start_up(tmp_path, setting, value):
    with pytest.raises(ConfigError, match=f"EXASTRO_MAIL_{setting}"):
        build_app(tmp_path, **{setting: value})
