"""An operator keeps the database small: `exastro-mail prune` (or the worker, every few minutes) removes
what the retention settings no longer keep, and nothing else."""

import os
import secrets
import threading
import time
from datetime import timedelta

import pytest

from exastro_mail.config import ConfigError
from exastro_mail.outbox.enqueue import enqueue_mail
from exastro_mail.outbox.worker import run_worker
from exastro_mail.store.db import db, is_sqlite
from exastro_mail.store.models import AuditEvent, LoginSession, OutboxMessage, ResetToken, utcnow
from tests.conftest import build_app, make_org, make_user

DAY = timedelta(days=1)


def mail(org, status="sent", age=timedelta(0), subject="Disk almost full", **changes):
    """A notification queued `age` ago, moved to `status`."""
    with db.atomic():
        message = enqueue_mail(org, "notification", to=["ops@example.com"], subject=subject, body_text="Body")
    created = utcnow() - age
    OutboxMessage.update(status=status, created_at=created, **changes).where(
        OutboxMessage.id == message.id
    ).execute()
    return message.id


def audit(org, age, action="login", detail=None):
    return AuditEvent.create(organization=org, action=action, created_at=utcnow() - age, detail=detail).id


def reset_token(user, expired_ago):
    return ResetToken.create(
        user=user,
        token_hash=secrets.token_hex(32),
        email=user.email,
        created_at=utcnow() - expired_ago - timedelta(minutes=30),
        expires_at=utcnow() - expired_ago,
    ).id


def login(user, created_ago, seen_ago):
    now = utcnow()
    return LoginSession.create(
        user=user,
        token_hash=secrets.token_hex(32),
        created_at=now - created_ago,
        last_seen_at=now - seen_ago,
    ).id


def left(model, ids):
    return {row.id for row in model.select(model.id).where(model.id.in_(list(ids)))}


def body_of(message_id):
    return OutboxMessage.get_by_id(message_id).body_text


@pytest.fixture
def small_batches(tmp_path):
    """An app pruning two rows per transaction, so that every kind of row takes several batches."""
    app = build_app(tmp_path, PRUNE_BATCH=2)
    with app.app_context():
        yield app


def test_prune_removes_what_is_due_and_nothing_else(small_batches):
    app = small_batches
    org, other = make_org(), make_org("globex", "Globex")
    user = make_user(org, "alice")
    gone = {
        "sent 91 days ago": mail(org, "sent", 91 * DAY),
        "failed 91 days ago": mail(org, "failed", 91 * DAY),
        "discarded 100 days ago": mail(other, "discarded", 100 * DAY),
    }
    kept = {
        "sent 89 days ago": mail(org, "sent", 89 * DAY),
        "queued 91 days ago (not final)": mail(org, "queued", 91 * DAY),
        "failed 8 days ago": mail(org, "failed", 8 * DAY),
        "failed 6 days ago": mail(org, "failed", 6 * DAY),
        "sent just now": mail(other, "sent"),
        "queued just now": mail(org, "queued"),
    }
    audits_gone = [audit(org, 401 * DAY), audit(other, 500 * DAY)]
    audits_kept = [audit(org, 399 * DAY), audit(org, timedelta(0))]
    tokens_gone = [reset_token(user, 2 * DAY), reset_token(user, 30 * DAY)]
    tokens_kept = [reset_token(user, timedelta(hours=12)), reset_token(user, -timedelta(minutes=20))]
    reset_mail = mail(org, "sent", timedelta(days=2), reset_token=tokens_gone[0])
    # Logins end 30 minutes idle or 12 hours old (the defaults); they go a day after that.
    hour = timedelta(hours=1)
    sessions_gone = [login(user, 3 * DAY, 2 * DAY), login(user, 40 * hour, timedelta(minutes=1))]
    sessions_kept = [login(user, 2 * hour, 20 * hour), login(user, DAY, timedelta(0))]

    result = app.test_cli_runner().invoke(args=["prune"])
    assert result.exit_code == 0, result.output
    assert "delivery: 3" in result.output and "audit: 2" in result.output

    assert left(OutboxMessage, gone.values()) == set()
    assert left(OutboxMessage, kept.values()) == set(kept.values())
    assert left(AuditEvent, audits_gone + audits_kept) == set(audits_kept)
    assert left(ResetToken, tokens_gone + tokens_kept) == set(tokens_kept)
    assert left(LoginSession, sessions_gone + sessions_kept) == set(sessions_kept)
    assert OutboxMessage.get_by_id(reset_mail).reset_token_id is None  # the mail stays, its link went
    # Bodies: gone once sent; a failed mail keeps its body a week, for Retry now; queued mail keeps it.
    assert body_of(kept["sent 89 days ago"]) is None and body_of(kept["sent just now"]) is None
    assert body_of(kept["failed 8 days ago"]) is None
    assert body_of(kept["failed 6 days ago"]) == "Body" and body_of(kept["queued just now"]) == "Body"
    assert body_of(kept["queued 91 days ago (not final)"]) == "Body"

    again = app.test_cli_runner().invoke(args=["prune"])
    assert "delivery: 0" in again.output and "audit: 0" in again.output


def test_a_failed_mail_without_its_body_offers_no_retry(app, client, auth):
    org = make_org()
    make_user(org, "admin", admin=True)
    with app.app_context():
        young, old = mail(org, "failed", 6 * DAY), mail(org, "failed", 8 * DAY)
    assert app.test_cli_runner().invoke(args=["prune"]).exit_code == 0
    auth.login()
    html = client.get("/acme/platform/mail-log").get_data(as_text=True)
    assert f'id="retry-{young}"' in html and f'id="retry-{old}"' not in html
    assert f'id="discard-{old}"' in html
    client.post(f"/acme/platform/mail-log/{old}/retry")
    assert OutboxMessage.get_by_id(old).status == "failed"


def test_never_keeps_rows_for_ever(tmp_path):
    app = build_app(tmp_path, RETENTION_DELIVERY_DAYS="never", RETENTION_AUDIT_DAYS="never")
    with app.app_context():
        org = make_org()
        old_mail, old_event = mail(org, "sent", 5000 * DAY), audit(org, 5000 * DAY)
        assert app.test_cli_runner().invoke(args=["prune"]).exit_code == 0
        assert left(OutboxMessage, [old_mail]) == {old_mail} and left(AuditEvent, [old_event]) == {old_event}
        make_user(org, "admin", admin=True)
        client = app.test_client()
        client.post("/acme/login", data={"username": "admin", "password": "correct horse battery"})
        assert "are removed" not in client.get("/acme/platform/audit-log").get_data(as_text=True)


def test_the_log_pages_say_how_long_entries_are_kept(client, auth, admin):
    auth.login()
    delivery = client.get("/acme/platform/mail-log").get_data(as_text=True)
    assert "Entries older than 90 days are removed." in delivery
    assert "The body of a mail is erased once it is sent" in delivery
    assert "Entries older than 400 days are removed." in client.get("/acme/platform/audit-log").get_data(
        as_text=True
    )


@pytest.mark.parametrize(
    ("name", "value"),
    [("RETENTION_AUDIT_DAYS", "a year"), ("RETENTION_DELIVERY_DAYS", "-1"), ("PRUNE_BATCH", "0")],
)
def test_a_retention_setting_that_is_not_a_number_stops_the_start(tmp_path, name, value):
    with pytest.raises(ConfigError, match=f"EXASTRO_MAIL_{name}"):
        build_app(tmp_path, **{name: value})


def test_the_worker_prunes_between_mail(tmp_path):
    app = build_app(tmp_path, PRUNE_INTERVAL_SECONDS=0.2, WORKER_POLL_SECONDS=0.05)
    with app.app_context():
        org = make_org()
        old = audit(org, 401 * DAY)
        recent = audit(org, DAY)
    stop = threading.Event()
    worker = threading.Thread(target=run_worker, args=(app,), kwargs={"stop_event": stop})
    worker.start()
    try:
        deadline = time.monotonic() + 10
        with app.app_context():
            while left(AuditEvent, [old]) and time.monotonic() < deadline:
                time.sleep(0.05)
            assert left(AuditEvent, [old, recent]) == {recent}
    finally:
        stop.set()
        worker.join(10)


@pytest.fixture
def sqlite_app(app):
    assert is_sqlite(app.extensions["exastro_mail.db"])
    return app


def file_size(app):
    return os.path.getsize(app.config["DATABASE_URL"][len("sqlite:///") :])


@pytest.mark.only_on("sqlite")  # the other engines give space back on their own
def test_the_sqlite_file_shrinks_after_pruning(sqlite_app):
    app = sqlite_app
    with app.app_context():
        org = make_org()
        with db.atomic():
            for _ in range(3000):
                audit(org, 500 * DAY, detail="x" * 2000)
        db.execute_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        full = file_size(app)
        assert db.execute_sql("PRAGMA auto_vacuum").fetchone()[0] == 2  # incremental, from the start
        result = app.test_cli_runner().invoke(args=["prune"])
        assert result.exit_code == 0 and "audit: 3000" in result.output
        assert "does not give freed space back" not in result.output
        assert file_size(app) < full / 4, (full, file_size(app))


@pytest.mark.only_on("sqlite")
def test_an_older_sqlite_file_gives_space_back_after_one_prune_vacuum(sqlite_app):
    app = sqlite_app
    with app.app_context():
        db.execute_sql("PRAGMA auto_vacuum = NONE")
        db.execute_sql("VACUUM")  # as a file made before this version
        org = make_org()
        with db.atomic():
            for _ in range(1000):
                audit(org, 500 * DAY, detail="x" * 2000)
        result = app.test_cli_runner().invoke(args=["prune"])
        assert "run `exastro-mail prune --vacuum` once" in result.output
        switched = app.test_cli_runner().invoke(args=["prune", "--vacuum"])
        assert switched.exit_code == 0 and "does not give freed space back" not in switched.output
        assert db.execute_sql("PRAGMA auto_vacuum").fetchone()[0] == 2
