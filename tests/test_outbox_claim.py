"""What the claim takes first, and how: a reset mail ahead of a queue of notifications, read through the
index on (status, priority, next_attempt_at) on every engine, however much sent mail is kept."""

import secrets
from datetime import timedelta

from exastro_mail.outbox import status
from exastro_mail.outbox.due import leases_run_out, queued_due
from exastro_mail.outbox.kinds import PRIORITY_NORMAL, PRIORITY_WAITING
from exastro_mail.outbox.worker import deliver_due
from exastro_mail.password_reset.flow import request_reset
from exastro_mail.store.db import db
from exastro_mail.store.models import OutboxMessage, utcnow
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
