"""What the claim takes first, and how: a reset mail ahead of a queue of notifications, read through the
index on (status, priority, next_attempt_at) on every engine, however much sent mail is kept."""

import logging
import secrets
import threading
import time
from datetime import timedelta

import pytest
from peewee import DatabaseError, OperationalError

from exastro_mail.outbox import status
from exastro_mail.outbox.claim import Claim
from exastro_mail.outbox.due import leases_run_out, lock, queued_due
from exastro_mail.outbox.enqueue import discard, retry_now
from exastro_mail.outbox.kinds import PRIORITY_NORMAL, PRIORITY_WAITING
from exastro_mail.outbox.worker import deliver_due, run_worker
from exastro_mail.password_reset.flow import request_reset
from exastro_mail.store.db import db
from exastro_mail.store.failures import deadlocked
from exastro_mail.store.models import Organization, OutboxMessage, utcnow
from tests.conftest import make_org
from tests.engine_fixtures import ENGINE
from tests.outbox_helpers import link_in, point_settings_at
from tests.test_worker_processes import queue_notifications

CLAIM_INDEXES = (["status", "priority", "next_attempt_at"], ["status", "lease_until"])


def test_a_reset_mail_is_sent_before_the_notifications_queued_ahead_of_it(mail_app, acme, alice, smtp_server):
    point_settings_at(mail_app, acme, smtp_server)
    with mail_app.app_context():
        queue_notifications(acme, 30)
        request_reset(acme, "alice", send_from="noreply@example.com")
    assert deliver_due(mail_app, batch_size=5) == 5
    first, *others = smtp_server.wait_for(5)
    assert first.recipients == ["alice@example.com"] and link_in(first)
    assert [received.message["Subject"] for received in others] == [f"Notice {i}" for i in range(4)]


def test_a_reset_requested_while_notifications_are_being_sent_does_not_wait_for_their_batch(
    mail_app, acme, alice, smtp_server_factory
):
    # A reset claimed first still waited for the batch in hand: an organization being delivered was not
    # claimed from, and a hundred notifications on a slow server (or a worker with little CPU) took
    # seconds. Now its reset mail is claimed into the batch and sent next, on the same connection.
    server = smtp_server_factory(delay=0.02)  # about 0.1 s a message
    point_settings_at(mail_app, acme, server)
    mail_app.config["WORKER_POLL_SECONDS"] = 0.1
    with mail_app.app_context():
        queue_notifications(acme, 60)
    stop = threading.Event()
    worker = threading.Thread(target=run_worker, args=(mail_app,), kwargs={"stop_event": stop})
    worker.start()
    try:
        server.wait_for(1, timeout=10)  # the batch is being sent
        with mail_app.app_context():
            request_reset(acme, "alice", send_from="noreply@example.com")
        asked = time.monotonic()
        arrived = wait_for_message_to(server, "alice@example.com", timeout=10)
        waited = time.monotonic() - asked
        notices_before = sum(received.recipients != ["alice@example.com"] for received in arrived)
        server.wait_for(61, timeout=30)
    finally:
        stop.set()
        worker.join(10)
    assert not worker.is_alive()
    assert waited < 2, waited
    assert notices_before < 40, notices_before  # the batch of 60 was still being sent
    assert server.connections == 1
    with mail_app.app_context():
        assert OutboxMessage.select().where(OutboxMessage.status == status.SENT).count() == 61


def wait_for_message_to(server, address: str, timeout: float) -> list:
    """The messages received up to and including the first to address."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        received = list(server.messages)
        for number, message in enumerate(received):
            if address in message.recipients:
                return received[: number + 1]
        time.sleep(0.02)
    raise AssertionError(f"no message to {address} within {timeout} s")


def add_rows(organization, rows: int, state: str, days_ago: float) -> None:
    """Rows of mail in one state: sent long ago, as a year of a busy organization leaves them, or a
    backlog of queued mail."""
    long_ago = utcnow() - timedelta(days=days_ago)
    history = [
        {
            "organization": organization,
            "kind": "notification",
            "recipients": '{"to": ["old@example.com"]}',
            "subject": "Old news",
            "message_id": f"<{secrets.token_hex(12)}@example.com>",
            "status": state,
            "next_attempt_at": long_ago,
            "created_at": long_ago,
            "sent_at": long_ago,
        }
        for _ in range(rows)
    ]
    with db.atomic():
        for start in range(0, rows, 500):
            OutboxMessage.insert_many(history[start : start + 500]).execute()


def index_named_by(columns) -> str:
    (name,) = [
        index.name
        for index in db.get_indexes(OutboxMessage._meta.table_name)
        if list(index.columns) == columns
    ]
    return name


def plan_of(query) -> str:
    sql, params = query.sql()
    if ENGINE == "sqlite":
        return "\n".join(str(row[-1]) for row in db.execute_sql(f"EXPLAIN QUERY PLAN {sql}", params))
    rows = db.execute_sql(f"EXPLAIN {sql}", params).fetchall()
    if ENGINE == "postgres":
        return "\n".join(row[0] for row in rows)
    return "\n".join(f"key={row[5]} extra={row[9]}" for row in rows)  # MariaDB: key, Extra


def test_the_claim_reads_its_index_in_order_however_much_mail_was_sent(app, org):
    add_rows(org, 20000, status.SENT, days_ago=200)
    add_rows(org, 2000, status.QUEUED, days_ago=1)
    db.execute_sql("ANALYZE" if ENGINE != "mariadb" else f"ANALYZE TABLE {OutboxMessage._meta.table_name}")
    queued_index = index_named_by(CLAIM_INDEXES[0])
    for priority in (PRIORITY_WAITING, PRIORITY_NORMAL):
        plan = plan_of(queued_due(utcnow(), priority).limit(100))
        assert queued_index in plan, plan
        assert "TEMP B-TREE" not in plan and "Sort" not in plan and "filesort" not in plan, plan
    # Mail whose worker died: rare, found through an index (PostgreSQL may pick the one on status alone).
    plan = plan_of(leases_run_out(utcnow()).limit(100))
    assert "SCAN t1" not in plan and "Seq Scan" not in plan and "key=None" not in plan, plan


@pytest.mark.only_on("mariadb")  # InnoDB locks index entries on its way to a row; PostgreSQL locks rows
def test_outcomes_and_lease_renewals_reach_their_rows_by_primary_key_alone(app, org, caplog):
    # With a condition on status, InnoDB read the index on status first, locking the entries of other
    # workers' rows on its way, while their outcomes held those rows and waited for the entries: a
    # deadlock, three workers in tests/test_multiprocess.py. By primary key alone there is no such order.
    # An operator's action names one row, by primary key, beside its condition on status: also PRIMARY.
    add_rows(org, 5000, status.SENT, days_ago=30)
    add_rows(org, 300, status.QUEUED, days_ago=0)
    ids = [
        row.id for row in OutboxMessage.select(OutboxMessage.id).order_by(OutboxMessage.id.desc()).limit(200)
    ]
    for lease, half in (("worker-a", ids[:100]), ("worker-b", ids[100:])):
        OutboxMessage.update(
            status=status.SENDING, leased_by=lease, lease_until=utcnow() + timedelta(seconds=30)
        ).where(OutboxMessage.id.in_(half)).execute()
    db.execute_sql(f"ANALYZE TABLE {OutboxMessage._meta.table_name}")
    held = list(OutboxMessage.select().where(OutboxMessage.leased_by == "worker-a"))
    claim = Claim("worker-a", 30, held)
    # An administrator's "Retry now" and "Discard" in the delivery log, on failed mail, meanwhile.
    spare = [row.id for row in OutboxMessage.select().where(OutboxMessage.leased_by.is_null()).limit(2)]
    failed = OutboxMessage.id.in_(spare)
    OutboxMessage.update(status=status.FAILED, body_text="Disk full").where(failed).execute()
    retried, discarded = OutboxMessage.select().where(failed).order_by(OutboxMessage.id)

    with app.app_context(), caplog.at_level(logging.DEBUG, logger="peewee"):
        claim.renew()
        claim.sent(held[0], "250 OK")
        claim.fail(held[1], "451 try later", permanent=False)
        claim.release(held[2:])
        assert retry_now(retried) and discard(discarded)
    written = [
        record.msg for record in caplog.records
        if isinstance(record.msg, tuple) and record.msg[0].startswith(("UPDATE", "DELETE"))
    ]  # fmt: skip
    assert len(written) == 6, written
    for sql, params in written:
        plans = db.execute_sql(f"EXPLAIN {sql}", params).fetchall()
        assert [row[5] for row in plans] == ["PRIMARY"], (sql[:80], plans)
    # What "ours" no longer says: a row that left "sending" is no longer leased by anyone.
    assert (
        not OutboxMessage.select()
        .where(OutboxMessage.leased_by.is_null(False) & (OutboxMessage.status != status.SENDING))
        .count()
    )


def real_deadlock(app) -> OperationalError:
    """The error the server raises in one of two transactions that each wait on a row the other holds."""
    with app.app_context():
        first, second = make_org("dl-a", "A"), make_org("dl-b", "B")
    both_hold_one = threading.Barrier(2, timeout=10)
    raised = []

    def take(one, other):
        try:
            with app.app_context(), db.atomic():
                Organization.update(name="held").where(Organization.id == one.id).execute()
                both_hold_one.wait()
                Organization.update(name="wanted").where(Organization.id == other.id).execute()
        except OperationalError as error:
            raised.append(error)
        finally:
            with app.app_context():
                db.close()

    threads = [threading.Thread(target=take, args=pair) for pair in ((first, second), (second, first))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    (error,) = raised  # the server rolled back one of them, and the other went on
    return error


@pytest.mark.only_on("postgres", "mariadb")  # SQLite has one writer at a time: no deadlock to break
def test_a_deadlock_the_server_broke_is_told_from_other_errors(app):
    assert deadlocked(real_deadlock(app))
    with app.app_context(), pytest.raises(DatabaseError) as other:
        db.execute_sql("SELECT * FROM no_such_table_here")
    assert not deadlocked(other.value)


@pytest.mark.only_on("postgres", "mariadb")
def test_a_claim_rolled_back_to_break_a_deadlock_is_taken_again(app, monkeypatch, caplog):
    error = real_deadlock(app)
    with app.app_context():
        queued = queue_notifications(make_org(), 3)
    calls = []

    def deadlocked_once(*args):
        calls.append(args)
        if len(calls) == 1:
            raise error
        return lock(*args)

    monkeypatch.setattr("exastro_mail.outbox.claim.lock", deadlocked_once)
    with app.app_context(), caplog.at_level(logging.INFO, logger="exastro_mail.outbox.claim"):
        claim = Claim.take(10, lease_seconds=60)
    assert len(calls) == 2
    assert sorted(message.id for message in claim.messages) == sorted(row.id for row in queued)
    assert "to break a deadlock; claiming again" in caplog.text
