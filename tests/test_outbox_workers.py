"""Real worker processes against real SMTP servers: a slow organization delays only itself; a killed
worker's mail is taken over within about 15 s, while a slow send in a live worker is never taken over; a
database blip just after the server accepted a mail does not send it twice."""

import signal
import sqlite3
import threading
import time
from urllib.parse import urlsplit

import psycopg2
import pymysql
import pytest

from exastro_mail import create_app
from exastro_mail.config import ConfigError
from exastro_mail.outbox import status
from exastro_mail.outbox.periodic import Periodic
from exastro_mail.store.db import db
from exastro_mail.store.models import OutboxMessage
from tests import test_worker_processes as worker_processes
from tests.conftest import make_org
from tests.engine_fixtures import ENGINE
from tests.outbox_helpers import point_settings_at
from tests.test_worker_processes import EXASTRO_MAIL, queue_notifications, statuses, wait_until

# The fixtures of the worker tests: an app with organization acme and the environment of its processes.
instance = worker_processes.instance
processes = worker_processes.processes


def test_a_slow_organization_delays_only_its_own_mail(instance, processes, smtp_server_factory):
    slow_server = smtp_server_factory(delay=7)  # 7 s before every reply line, as measured in issue 12
    fast_server = smtp_server_factory()
    point_settings_at(instance, instance.organization, slow_server)
    queue_notifications(instance.organization, 3)
    other = make_org("beta", "Beta Inc")
    point_settings_at(instance, other, fast_server)
    env = {
        **instance.env,
        "EXASTRO_MAIL_SMTP_TIMEOUT": "10",  # the slow server answers each line in time
        "EXASTRO_MAIL_OUTBOX_ORGANIZATION_SECONDS": "12",
    }
    worker = processes.start([EXASTRO_MAIL, "worker"], env)
    wait_until(lambda: statuses()[status.SENDING] == 3, 30, "the worker taking the slow organization's mail")
    time.sleep(0.5)  # connected, and waiting for the slow greeting

    queue_notifications(other, 1)
    queued_at = time.monotonic()
    fast_server.wait_for(1, timeout=10)
    assert time.monotonic() - queued_at < 3

    # The organization's deadline ends the slow connection: its mail waits for a retry, the worker lives.
    def slow_mail_waits_for_a_retry():
        rows = OutboxMessage.select().where(OutboxMessage.organization == instance.organization)
        return all(row.status == status.QUEUED and row.attempts == 1 for row in rows)

    wait_until(slow_mail_waits_for_a_retry, 20, "the slow organization's mail queued for a retry")
    (row, *_) = OutboxMessage.select().where(OutboxMessage.organization == instance.organization)
    assert "time" in row.last_error
    assert not slow_server.messages
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(10) == 0
    assert "Traceback" not in processes.output(worker)


def env_with_default_lease(instance) -> dict:
    env = dict(instance.env)
    del env["EXASTRO_MAIL_OUTBOX_LEASE_SECONDS"]  # the default: 12 s, renewed every 3 s
    return env


def test_a_killed_workers_mail_is_taken_over_within_about_15_seconds(
    instance, processes, smtp_server_factory
):
    server = smtp_server_factory(delay=0.05)  # each message takes about 0.3 s: a batch is in hand a while
    point_settings_at(instance, instance.organization, server)
    messages = queue_notifications(instance.organization, 60)
    env = env_with_default_lease(instance)

    first = processes.start([EXASTRO_MAIL, "worker"], env)
    server.wait_for(5, timeout=20)
    first.send_signal(signal.SIGKILL)
    first.wait()
    killed_at = time.monotonic()
    arrived_before = len(server.messages)
    assert statuses()[status.SENDING] > 0  # killed with a claimed batch in hand

    second = processes.start([EXASTRO_MAIL, "worker"], env)
    wait_until(lambda: len(server.messages) > arrived_before, 20, "the second worker sending")
    taken_over_after = time.monotonic() - killed_at
    assert taken_over_after < 16, taken_over_after  # the lease (12 s) after the last heartbeat, not 120 s
    wait_until(lambda: statuses()[status.SENT] == 60, 60, "every message sent")
    second.send_signal(signal.SIGTERM)
    assert second.wait(10) == 0
    arrived = [received.message["Message-ID"] for received in server.messages]
    assert set(arrived) == {message.message_id for message in messages}
    assert len(arrived) <= 61  # at most one duplicate for the SIGKILL, and then with the same Message-ID


def test_a_send_slower_than_the_lease_is_not_taken_over_by_another_worker(
    instance, processes, smtp_server_factory
):
    server = smtp_server_factory(delay=0.5)  # about 5 s a message (every reply line late), lease 2 s
    point_settings_at(instance, instance.organization, server)
    messages = queue_notifications(instance.organization, 2)
    workers = [processes.start([EXASTRO_MAIL, "worker"], instance.env) for _ in range(2)]

    wait_until(lambda: statuses()[status.SENT] == 2, 60, "both messages sent")
    time.sleep(3)  # a lease that was not renewed would have let the other worker send them again
    arrived = [received.message["Message-ID"] for received in server.messages]
    assert sorted(arrived) == sorted(message.message_id for message in messages)
    for worker in workers:
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(20) == 0


class DatabaseBlip:
    """Makes the worker's database fail for a moment, from the SMTP server's DATA hook: the mail has
    arrived, its 250 not yet sent. SQLite: another connection holds the write lock until release_when()
    says the worker's write has failed (past its busy timeout), at most 25 s. PostgreSQL: the worker's
    connections are terminated and new ones refused for 2 s. MariaDB: its connections are killed."""

    def __init__(self, app):
        self.url = app.config["DATABASE_URL"]
        self.happened = threading.Event()
        self.release_when = None  # set by the test once the worker it watches is started
        with app.app_context():
            self.spared = self._own_connection_id()  # the test's own connection stays

    def __call__(self, _argument):
        if not self.happened.is_set():
            self.happened.set()
            getattr(self, f"_{ENGINE}")()
        return None  # the server's normal answer: the mail is accepted

    def _own_connection_id(self):
        if ENGINE == "postgres":
            return db.execute_sql("SELECT pg_backend_pid()").fetchone()[0]
        if ENGINE == "mariadb":
            return db.execute_sql("SELECT CONNECTION_ID()").fetchone()[0]
        return None

    def _sqlite(self):
        locker = sqlite3.connect(urlsplit(self.url).path, check_same_thread=False, isolation_level=None)
        locker.execute("BEGIN EXCLUSIVE")

        # Until the worker's write has failed with "database is locked" (its busy timeout is 10 s): a
        # lock held for a fixed 11 s was too short when a loaded machine let the worker write late.
        def hold():
            deadline = time.monotonic() + 25  # within the test's lease (30 s)
            while time.monotonic() < deadline and not (self.release_when and self.release_when()):
                time.sleep(0.1)
            locker.execute("COMMIT")
            locker.close()

        threading.Thread(target=hold, daemon=True).start()

    def _postgres(self):
        parts = urlsplit(self.url)
        name = parts.path.lstrip("/")
        admin = psycopg2.connect(host=parts.hostname, port=parts.port, user=parts.username, dbname="postgres")
        admin.autocommit = True
        with admin.cursor() as cursor:
            cursor.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS false')
            cursor.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> %s",
                (name, self.spared),
            )

        def allow():
            with admin.cursor() as cursor:
                cursor.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS true')
            admin.close()

        threading.Timer(2, allow).start()

    def _mariadb(self):
        parts = urlsplit(self.url)
        name = parts.path.lstrip("/")
        admin = pymysql.connect(host=parts.hostname, port=parts.port, user=parts.username, autocommit=True)
        with admin.cursor() as cursor:
            cursor.execute(
                "SELECT id FROM information_schema.processlist"
                " WHERE db = %s AND id NOT IN (%s, CONNECTION_ID())",
                (name, self.spared),
            )
            for (connection_id,) in cursor.fetchall():
                cursor.execute(f"KILL CONNECTION {int(connection_id)}")
        admin.close()


def test_a_database_blip_after_the_server_accepted_does_not_send_the_mail_twice(
    instance, processes, smtp_server_factory
):
    blip = DatabaseBlip(instance)
    server = smtp_server_factory(replies={"DATA": blip})
    point_settings_at(instance, instance.organization, server)
    (message,) = queue_notifications(instance.organization, 1)
    env = {**instance.env, "EXASTRO_MAIL_OUTBOX_LEASE_SECONDS": "30"}  # outlasts SQLite's lock (25 s at most)
    worker = processes.start([EXASTRO_MAIL, "worker"], env)
    blip.release_when = lambda: "the outcome could not be recorded" in processes.output(worker)

    assert blip.happened.wait(20)
    db.close()
    wait_until(lambda: statuses() == {status.SENT: 1}, 30, "the mail recorded as sent")
    time.sleep(2)  # had the fact been lost, the next passes would find the mail due again
    assert [received.message["Message-ID"] for received in server.messages] == [message.message_id]
    assert statuses() == {status.SENT: 1}
    worker.send_signal(signal.SIGTERM)
    # It stops after its pass; on a loaded machine a pass may wait SQLite's busy timeout (10 s) first.
    assert worker.wait(30) == 0
    log = processes.output(worker)
    assert "the outcome could not be recorded" in log and "recorded after" in log
    assert "delivering to organization" not in log  # the delivery went on (the claims failed, and said so)


def test_a_heartbeat_too_slow_for_the_lease_is_refused_at_start(tmp_path):
    overrides = {"INSTANCE_PATH": str(tmp_path / "instance"), "OUTBOX_LEASE_SECONDS": "10"}
    with pytest.raises(ConfigError, match="OUTBOX_HEARTBEAT_SECONDS must be at most half"):
        create_app({**overrides, "OUTBOX_HEARTBEAT_SECONDS": "6"})
    with pytest.raises(ConfigError, match="OUTBOX_CONCURRENCY must be"):
        create_app({**overrides, "OUTBOX_CONCURRENCY": "0"})
    app = create_app(overrides)
    assert app.config["OUTBOX_HEARTBEAT_SECONDS"] == 2.5  # a quarter of the lease when not set


def test_a_failing_periodic_task_is_told_once_and_tried_again_at_its_next_turn(caplog):
    now = [0.0]
    runs = []

    def prune():
        runs.append(now[0])
        if len(runs) <= 2:
            raise OSError("database unavailable")

    periodic = Periodic(clock=lambda: now[0])
    periodic.every(5, "pruning", prune)
    for second in range(16):
        now[0] = float(second)
        periodic.run_due()
    assert runs == [5.0, 10.0, 15.0]
    told = [record.getMessage() for record in caplog.records if "pruning failed" in record.getMessage()]
    assert told == ["the outbox worker's pruning failed (database unavailable); trying again in 5 s"]
    assert periodic.seconds_to_next() == 5.0
