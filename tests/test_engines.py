"""The same product on every engine: the URL picks it, a pool serves the server engines, text and times
read back exactly as written, and two workers claiming at once share the due mail out."""

import threading
import time
from datetime import datetime

import pytest

from exastro_mail import create_app
from exastro_mail.auth.accounts import create_user
from exastro_mail.config import ConfigError
from exastro_mail.mailserver.store import settings_for
from exastro_mail.outbox.claim import Claim
from exastro_mail.outbox.enqueue import enqueue_mail
from exastro_mail.password_reset.flow import request_reset
from exastro_mail.password_reset.mail_kind import resolve_reset_request
from exastro_mail.store.db import EXTENSION_KEY, db, engine
from exastro_mail.store.models import AuditEvent, OutboxMessage, ResetToken, User
from tests.conftest import DEFAULT_PASSWORD, AuthActions, build_app, make_org
from tests.engine_fixtures import ENGINE
from tests.outbox_helpers import point_settings_at

EXPECTED_ENGINE = {"sqlite": "sqlite", "postgres": "postgresql", "mariadb": "mysql"}[ENGINE]


def test_the_suite_runs_on_the_engine_it_was_asked_for(app):
    assert engine() == EXPECTED_ENGINE


@pytest.mark.parametrize(
    ("url", "named"),
    [
        ("mongodb://127.0.0.1/mail", "not mongodb://"),
        ("/var/lib/exastro-mail.sqlite3", "not a bare path"),
        ("postgresql://127.0.0.1", "names no database"),
        ("sqlite:///", "give SQLite a file"),
    ],
)
def test_an_unusable_database_url_stops_start_up_with_the_setting_named(tmp_path, url, named):
    with pytest.raises(ConfigError, match="EXASTRO_MAIL_DATABASE_URL") as raised:
        create_app({"INSTANCE_PATH": str(tmp_path), "DATABASE_URL": url})
    assert named in str(raised.value)


def test_usernames_differing_in_case_are_different_accounts(app, client):
    organization = make_org()
    create_user(organization, "alice", "alice@example.com", DEFAULT_PASSWORD)
    create_user(organization, "Alice", "big.alice@example.com", "another horse battery")

    auth = AuthActions(client)
    assert auth.login("ALICE", DEFAULT_PASSWORD).status_code == 200  # no such user: the form again
    assert auth.login("Alice", DEFAULT_PASSWORD).status_code == 200  # Alice has another password
    assert auth.login("alice", DEFAULT_PASSWORD).status_code == 302
    assert User.get(User.username == "Alice").email == "big.alice@example.com"


def test_times_read_back_to_the_microsecond(app):
    organization = make_org()
    due = datetime(2030, 1, 2, 3, 4, 5, 678901)
    with app.app_context():
        message = enqueue_mail(
            organization, "notification", to=["ops@example.com"], subject="s", body_text="b"
        )
    OutboxMessage.update(next_attempt_at=due).where(OutboxMessage.id == message.id).execute()
    assert OutboxMessage.get_by_id(message.id).next_attempt_at == due


def test_a_pool_of_one_connection_serves_request_after_request(tmp_path):
    app = build_app(tmp_path)
    if engine(app.extensions[EXTENSION_KEY]) != "sqlite":
        # The same database through a pool that can lend a single connection and waits 1 s at most.
        url = app.config["DATABASE_URL"]
        app = build_app(
            tmp_path, DATABASE_URL=f"{url}{'&' if '?' in url else '?'}max_connections=1&timeout=1"
        )
    with app.app_context():
        make_org()
    client = app.test_client()
    pages = [client.get("/acme/login").status_code for _ in range(20)]
    assert pages == [200] * 20


def queue_notifications(app, organization, count: int) -> None:
    with app.app_context(), db.atomic():
        for number in range(count):
            enqueue_mail(
                organization, "notification", to=[f"u{number}@example.com"], subject="s", body_text="b"
            )


def test_two_claims_at_once_never_take_the_same_mail(app):
    queue_notifications(app, make_org(), 20)
    held = threading.Event()
    let_go = threading.Event()
    first: list[int] = []

    def claim_and_hold():
        with app.app_context():
            try:
                with db.atomic():  # the claim's rows stay locked (SQLite: the write lock) until this ends
                    first.extend(message.id for message in Claim.take(5, lease_seconds=60).messages)
                    held.set()
                    let_go.wait(10)
            finally:
                db.close()

    holder = threading.Thread(target=claim_and_hold)
    holder.start()
    try:
        assert held.wait(10)
        if ENGINE == "sqlite":
            threading.Timer(0.3, let_go.set).start()  # SQLite has one writer: the second claim waits
        started = time.monotonic()
        second = [message.id for message in Claim.take(5, lease_seconds=60).messages]
        waited = time.monotonic() - started
        finished_while_held = not let_go.is_set()
    finally:
        let_go.set()
        holder.join(10)
    assert len(first) == 5 and len(second) == 5
    assert not set(first) & set(second)
    if ENGINE != "sqlite":
        # FOR UPDATE SKIP LOCKED: the locked rows are passed over at once, not waited for.
        assert finished_while_held and waited < 1, waited
    assert OutboxMessage.select().where(OutboxMessage.status == "sending").count() == 10


def test_a_worker_that_stalled_past_its_lease_leaves_the_batch_to_the_one_that_took_it_over(app):
    queue_notifications(app, make_org(), 3)
    stalled = Claim.take(10, lease_seconds=0.2)
    time.sleep(0.3)  # say, a long wait on a slow SMTP server: the lease runs out
    successor = Claim.take(10, lease_seconds=60)
    assert [message.id for message in successor.messages] == [message.id for message in stalled.messages]
    assert not any(stalled.still_holds(message) for message in stalled.messages)
    assert all(successor.still_holds(message) for message in successor.messages)


def test_a_worker_that_lost_its_lease_does_not_resolve_the_forgot_password_request(app):
    organization = make_org()
    create_user(organization, "alice", "alice@example.com", DEFAULT_PASSWORD)
    point_settings_at(app, organization, None, smtp_host="smtp.example.com", smtp_port=25)
    with app.app_context():
        request_reset(organization, "alice", send_from="noreply@example.com")
    stalled = Claim.take(10, lease_seconds=0.2)
    time.sleep(0.3)  # it stalls (a slow template, a paused machine): the lease runs out
    successor = Claim.take(10, lease_seconds=60)
    (request,) = stalled.messages
    with app.app_context():
        assert not resolve_reset_request(stalled, request, settings_for(request.organization))
    assert ResetToken.select().count() == 0  # nothing it did stayed
    assert not AuditEvent.select().where(AuditEvent.action == "password_reset.resolved").exists()
    (taken_over,) = successor.messages
    with app.app_context():
        assert resolve_reset_request(successor, taken_over, settings_for(taken_over.organization))
    assert ResetToken.select().count() == 1
    row = OutboxMessage.get_by_id(taken_over.id)
    assert (row.reset_request, row.leased_by) == (None, successor.lease_id)
