"""The outbox worker delivers queued mail through the organization's own SMTP server and copes with faults."""

import json
import logging
import threading
import time
from datetime import timedelta

import pytest

from exastro_mail import create_app
from exastro_mail.mailserver.store import delete_settings
from exastro_mail.outbox import status
from exastro_mail.outbox.enqueue import discard, enqueue_mail, retry_now
from exastro_mail.outbox.retry import retry_delay
from exastro_mail.outbox.worker import deliver_due, run_worker
from exastro_mail.password_reset import tokens
from exastro_mail.store import migrations
from exastro_mail.store.db import db
from exastro_mail.store.models import MailServerSettings, OutboxMessage, ResetToken, utcnow
from tests.conftest import LOOPBACK_ALLOWED, build_app, make_org
from tests.outbox_helpers import SMTP_PASSWORD, SMTP_USER, deliver, point_settings_at

AUTH = {SMTP_USER: SMTP_PASSWORD}


def queue(app, organization, count=1, **overrides):
    """Queue notifications the way callers do: inside their transaction."""
    fields = {
        "to": ["carol@example.net"],
        "subject": "Backup finished",
        "body_text": "The nightly backup finished.",
        "body_html": "<p>The nightly backup finished.</p>",
    }
    fields.update(overrides)
    with app.app_context(), db.atomic():
        return [enqueue_mail(organization, "notification", **fields) for _ in range(count)]


def reloaded(message) -> OutboxMessage:
    return OutboxMessage.get_by_id(message.id)


def make_due(*messages):
    """Time travel: the retry the worker scheduled is due now."""
    OutboxMessage.update(next_attempt_at=utcnow() - timedelta(seconds=1)).where(
        OutboxMessage.id.in_([message.id for message in messages])
    ).execute()


def test_a_mail_arrives_with_the_settings_headers_and_envelope(mail_app, acme, smtp_server):
    point_settings_at(mail_app, acme, smtp_server)
    (message,) = queue(
        mail_app, acme, to=["carol@example.net"], cc=["dave@example.net"], bcc=["erin@example.net"]
    )
    assert deliver(mail_app) == 1
    received = smtp_server.wait_for(1)[0]
    assert received.envelope_from == "bounces@example.com"
    assert received.recipients == ["carol@example.net", "dave@example.net", "erin@example.net"]
    headers = received.message
    assert headers["From"] == "ACME notifications <noreply@example.com>"
    assert headers["Reply-To"] == "ACME support <support@example.com>"
    assert headers["To"] == "carol@example.net"
    assert headers["Cc"] == "dave@example.net"
    assert "Bcc" not in headers and b"erin@" not in received.raw
    assert headers["Message-ID"] == message.message_id and message.message_id.endswith("@example.com>")
    assert headers["Date"] and headers["Auto-Submitted"] == "auto-generated"
    assert headers.get_body(("plain",)).get_content().strip() == "The nightly backup finished."
    assert headers.get_body(("html",)).get_content().strip() == "<p>The nightly backup finished.</p>"
    sent = reloaded(message)
    assert (sent.status, sent.attempts, sent.lease_until) == (status.SENT, 1, None)
    assert sent.sent_at is not None and sent.body_text  # only reset mails lose their body


def test_without_envelope_from_the_envelope_sender_is_from_and_without_names_the_org(
    mail_app, acme, smtp_server
):
    point_settings_at(
        mail_app, acme, smtp_server, envelope_from=None, send_name=None, reply_to=None, reply_name=None
    )
    queue(mail_app, acme)
    deliver(mail_app)
    received = smtp_server.wait_for(1)[0]
    assert received.envelope_from == "noreply@example.com"
    assert received.message["From"] == "ACME Corp <noreply@example.com>"
    assert "Reply-To" not in received.message


def test_no_value_can_inject_a_header(mail_app, acme, smtp_server):
    point_settings_at(mail_app, acme, smtp_server)
    # Written past the form's rules, as a damaged or older row might hold them.
    MailServerSettings.update(
        send_name="ACME\r\nBcc: mallory@evil.example", reply_name="Support\nX-Evil: 1"
    ).execute()
    queue(mail_app, acme, subject="Hello")
    OutboxMessage.update(subject="Hello\r\nBcc: mallory@evil.example\r\nX-Evil: 1").execute()
    deliver(mail_app)
    received = smtp_server.wait_for(1)[0]
    assert received.recipients == ["carol@example.net"]
    assert "Bcc" not in received.message and "X-Evil" not in received.message
    assert received.message["Subject"] == "Hello  Bcc: mallory@evil.example  X-Evil: 1"


def test_starttls_with_authentication(mail_app, acme, smtp_server_factory):
    server = smtp_server_factory(mode="starttls", auth=AUTH)
    point_settings_at(mail_app, acme, server)
    queue(mail_app, acme)
    deliver(mail_app)
    received = server.wait_for(1)[0]
    assert received.tls and received.authenticated_user == SMTP_USER


def test_implicit_tls_with_authentication(mail_app, acme, smtp_server_factory):
    server = smtp_server_factory(mode="implicit", auth=AUTH)
    point_settings_at(mail_app, acme, server)
    queue(mail_app, acme)
    deliver(mail_app)
    received = server.wait_for(1)[0]
    assert received.tls and received.authenticated_user == SMTP_USER


def test_plain_smtp_never_tries_starttls(mail_app, acme, smtp_server_factory):
    server = smtp_server_factory(mode="starttls")  # offers STARTTLS; "None" must not take it
    point_settings_at(mail_app, acme, server, encryption="none")
    queue(mail_app, acme)
    deliver(mail_app)
    assert not server.wait_for(1)[0].tls
    assert "STARTTLS" not in server.commands


@pytest.mark.parametrize(
    ("options", "reason"),
    [
        ({"offer_starttls": False}, "does not offer STARTTLS"),
        ({"starttls_reply": "454 4.7.0 TLS not available"}, "454 4.7.0 TLS not available"),
    ],
)
def test_starttls_that_cannot_happen_fails_without_auth_or_mail(
    mail_app, acme, smtp_server_factory, options, reason
):
    server = smtp_server_factory(mode="starttls", auth=AUTH, auth_require_tls=False, **options)
    point_settings_at(mail_app, acme, server)
    (message,) = queue(mail_app, acme)
    deliver(mail_app)
    failed = reloaded(message)
    assert failed.status == status.FAILED
    assert reason in failed.last_error
    assert "AUTH" not in server.commands and "MAIL" not in server.commands
    assert server.messages == []


@pytest.mark.parametrize("cert", ["self_signed", "wrong_host"])
def test_an_unverifiable_certificate_fails_the_mail(mail_app, acme, smtp_server_factory, cert):
    server = smtp_server_factory(mode="implicit", cert=cert)
    point_settings_at(mail_app, acme, server)
    (message,) = queue(mail_app, acme)
    deliver(mail_app)
    failed = reloaded(message)
    assert failed.status == status.FAILED
    assert "certificate verify failed" in failed.last_error
    assert server.messages == []


def test_a_451_is_retried_later_with_the_same_message_id(mail_app, acme, smtp_server_factory):
    server = smtp_server_factory(replies={"MAIL": ("451 4.3.0 Try again later", 1)})
    point_settings_at(mail_app, acme, server)
    (message,) = queue(mail_app, acme)
    deliver(mail_app)
    waiting = reloaded(message)
    assert waiting.status == status.QUEUED
    assert "451 4.3.0 Try again later" in waiting.last_error
    assert waiting.next_attempt_at > utcnow() + timedelta(seconds=10)  # base 30 s, with jitter
    assert deliver(mail_app) == 0  # not due yet

    make_due(message)
    deliver(mail_app)
    assert server.wait_for(1)[0].message["Message-ID"] == message.message_id
    assert (reloaded(message).status, reloaded(message).attempts) == (status.SENT, 2)


@pytest.mark.parametrize(
    ("options", "reason"),
    [
        ({"replies": {"RCPT": "550 5.1.1 No such user"}}, "550 5.1.1 No such user"),
        ({"replies": {"DATA": "554 5.7.1 Rejected as spam"}}, "554 5.7.1 Rejected as spam"),
        ({"mode": "starttls", "auth": {SMTP_USER: "another password"}}, "535"),
    ],
)
def test_a_5xx_or_rejected_login_fails_at_once_with_the_reason(
    mail_app, acme, smtp_server_factory, options, reason
):
    server = smtp_server_factory(**options)
    point_settings_at(
        mail_app,
        acme,
        server,
        authentication_enable=bool(options.get("auth")),
        authentication_user=SMTP_USER,
        authentication_password=SMTP_PASSWORD,
    )
    (message,) = queue(mail_app, acme)
    deliver(mail_app)
    failed = reloaded(message)
    assert (failed.status, failed.attempts) == (status.FAILED, 1)
    assert reason in failed.last_error
    assert SMTP_PASSWORD not in failed.last_error


def test_a_recipient_refused_for_now_is_retried_alone_and_the_others_get_the_mail_once(
    mail_app, acme, smtp_server_factory
):
    busy = {"busy@example.net": "450 4.2.0 Mailbox busy"}
    server = smtp_server_factory(replies={"RCPT": lambda address: busy.get(address)})
    point_settings_at(mail_app, acme, server)
    (message,) = queue(mail_app, acme, to=["carol@example.net", "busy@example.net"], bcc=["erin@example.net"])

    deliver(mail_app)
    first = reloaded(message)
    assert first.status == status.QUEUED
    assert first.last_error == (
        "sent to 2 of 3, 1 retrying: 450 4.2.0 Mailbox busy (RCPT TO busy@example.net)"
    )
    assert server.wait_for(1)[0].recipients == ["carol@example.net", "erin@example.net"]

    busy.clear()
    make_due(message)
    deliver(mail_app)
    assert [received.recipients for received in server.wait_for(2)] == [
        ["carol@example.net", "erin@example.net"],
        ["busy@example.net"],  # only the one that was refused
    ]
    done = reloaded(message)
    assert (done.status, done.last_error, done.attempts) == (status.SENT, None, 2)
    assert {outcome["status"] for outcome in json.loads(done.recipient_outcomes).values()} == {"accepted"}


def test_recipients_refused_for_good_are_reported_and_not_retried(mail_app, acme, smtp_server_factory):
    server = smtp_server_factory(
        replies={"RCPT": lambda address: "550 5.1.1 No such user" if address.startswith("gone") else None}
    )
    point_settings_at(mail_app, acme, server)
    (message,) = queue(mail_app, acme, to=["carol@example.net", "gone@example.net"])

    deliver(mail_app)
    done = reloaded(message)
    assert (done.status, done.attempts) == (status.SENT, 1)
    assert done.last_error == "sent to 1 of 2, 1 refused: 550 5.1.1 No such user (RCPT TO gone@example.net)"
    make_due(message)
    assert deliver(mail_app) == 0  # nothing left to try


def test_when_retrying_gives_up_the_recipients_still_refused_are_refused_for_good(
    tmp_path, smtp_ca, smtp_server_factory
):
    app = build_app(tmp_path, OUTBOX_GIVE_UP_SECONDS=0)
    server = smtp_server_factory(
        replies={"RCPT": lambda address: "450 4.2.0 Mailbox busy" if address.startswith("busy") else None}
    )
    with app.app_context():
        acme = make_org()
        point_settings_at(app, acme, server)
        (message,) = queue(app, acme, to=["carol@example.net", "busy@example.net"])
        deliver(app)
        done = reloaded(message)
    assert done.status == status.SENT  # to carol; busy stays refused
    assert done.last_error.startswith("gave up after 1 attempts: sent to 1 of 2, 1 retrying: 450 4.2.0")
    assert json.loads(done.recipient_outcomes)["busy@example.net"]["status"] == "refused"


def test_a_refused_connection_is_retried(mail_app, acme, closed_port):
    point_settings_at(mail_app, acme, None, smtp_host="127.0.0.1", smtp_port=closed_port, encryption="none")
    (message,) = queue(mail_app, acme)
    deliver(mail_app)
    waiting = reloaded(message)
    assert waiting.status == status.QUEUED
    assert "connection refused" in waiting.last_error


def test_a_stalling_server_is_given_up_on_within_the_timeout_and_retried(mail_app, acme, stalling_server):
    point_settings_at(mail_app, acme, stalling_server, encryption="none")
    (message,) = queue(mail_app, acme)
    started = utcnow()
    deliver(mail_app)
    assert utcnow() - started < timedelta(seconds=5)  # SMTP_TIMEOUT is 1.5 s here
    waiting = reloaded(message)
    assert waiting.status == status.QUEUED
    assert "timed out" in waiting.last_error


def test_a_drop_mid_message_is_retried_and_settings_edited_meanwhile_apply(
    mail_app, acme, smtp_server_factory
):
    dropping = smtp_server_factory(drop_after_data=True)
    point_settings_at(mail_app, acme, dropping)
    (message,) = queue(mail_app, acme)
    deliver(mail_app)
    assert reloaded(message).status == status.QUEUED
    assert "closed the connection" in reloaded(message).last_error

    fixed = smtp_server_factory()
    point_settings_at(mail_app, acme, fixed, send_name="ACME mailer")
    make_due(message)
    deliver(mail_app)
    received = fixed.wait_for(1)[0]
    assert received.message["Message-ID"] == message.message_id
    assert received.message["From"] == "ACME mailer <noreply@example.com>"


def test_when_a_connection_drops_the_rest_of_the_batch_waits_for_a_new_one(
    mail_app, acme, smtp_server_factory
):
    server = smtp_server_factory(drop_after_data=True)
    point_settings_at(mail_app, acme, server)
    first, *rest = queue(mail_app, acme, 3)
    deliver(mail_app)
    assert reloaded(first).status == status.QUEUED and reloaded(first).attempts == 1
    for message in rest:  # given back untried: due now, no attempt counted, no error of their own
        assert (reloaded(message).status, reloaded(message).attempts, reloaded(message).last_error) == (
            status.QUEUED,
            0,
            None,
        )


def test_retrying_gives_up_after_the_budget(tmp_path, smtp_ca, closed_port):
    from tests.conftest import build_app

    app = build_app(tmp_path, OUTBOX_RETRY_BASE_SECONDS=60, OUTBOX_GIVE_UP_SECONDS=100)
    with app.app_context():
        organization = make_org()
        point_settings_at(
            app, organization, None, smtp_host="127.0.0.1", smtp_port=closed_port, encryption="none"
        )
        (message,) = queue(app, organization)
        deliver(app)  # waits 60 s (planned), still within 100
        make_due(message)
        deliver(app)  # the next wait would reach 60 + 120
        failed = reloaded(message)
        assert failed.status == status.FAILED
        assert failed.last_error.startswith("gave up after 2 attempts: connection refused")


def test_without_settings_the_mail_fails_with_that_reason(mail_app, acme, smtp_server):
    point_settings_at(mail_app, acme, smtp_server)
    (message,) = queue(mail_app, acme)
    delete_settings(acme, actor="admin")
    deliver(mail_app)
    assert (reloaded(message).status, reloaded(message).last_error) == (
        status.FAILED,
        "no mail sending server configured",
    )


def test_an_unreadable_smtp_password_keeps_the_mail_queued(mail_app, acme, smtp_server_factory):
    server = smtp_server_factory(mode="starttls", auth=AUTH)
    point_settings_at(mail_app, acme, server)
    MailServerSettings.update(authentication_password_sealed="gAAAAA-not-our-key").execute()
    (message,) = queue(mail_app, acme)
    deliver(mail_app)
    assert reloaded(message).status == status.QUEUED
    assert "enter the password again" in reloaded(message).last_error


def reset_mail(app, organization, user, *, now=None):
    now = now or utcnow()
    token = tokens.new_token()
    with app.app_context(), db.atomic():
        row = tokens.issue(user, token, now=now, ttl_seconds=1800)
        return enqueue_mail(
            organization,
            "password_reset",
            to=[user.email],
            subject="Reset",
            body_text=f"link {token}",
            body_html=f"<a>{token}</a>",
            reset_token=row,
        )


@pytest.mark.parametrize("how", ["expired", "used", "deleted"])
def test_a_reset_mail_whose_link_died_is_never_sent(mail_app, acme, alice, smtp_server, how):
    point_settings_at(mail_app, acme, smtp_server)
    message = reset_mail(
        mail_app, acme, alice, now=utcnow() - timedelta(seconds=1801) if how == "expired" else None
    )
    if how == "used":
        ResetToken.update(used_at=utcnow()).execute()
    if how == "deleted":
        ResetToken.delete().execute()
    deliver(mail_app)
    dead = reloaded(message)
    assert dead.status == status.EXPIRED
    assert dead.last_error.startswith("not sent:")
    assert (dead.body_text, dead.body_html) == (None, None)
    assert smtp_server.messages == [] and smtp_server.connections == 0


def test_a_sent_reset_mail_keeps_recipient_status_and_times_but_not_its_body(
    mail_app, acme, alice, smtp_server
):
    point_settings_at(mail_app, acme, smtp_server)
    message = reset_mail(mail_app, acme, alice)
    deliver(mail_app)
    assert "link " in smtp_server.wait_for(1)[0].message.get_body(("plain",)).get_content()
    sent = reloaded(message)
    assert (sent.status, sent.body_text, sent.body_html) == (status.SENT, None, None)
    assert json.loads(sent.recipients)["to"] == ["alice@example.com"]
    assert sent.created_at <= sent.sent_at


def test_many_mails_to_one_server_share_one_connection(mail_app, acme, smtp_server):
    point_settings_at(mail_app, acme, smtp_server)
    queue(mail_app, acme, 5)
    deliver(mail_app)
    assert len(smtp_server.wait_for(5)) == 5
    assert smtp_server.connections == 1


def test_each_organization_sends_through_its_own_server(mail_app, acme, smtp_server_factory):
    globex = make_org("globex", "Globex")
    acme_server, globex_server = smtp_server_factory(), smtp_server_factory()
    point_settings_at(mail_app, acme, acme_server)
    point_settings_at(mail_app, globex, globex_server, send_from="noreply@globex.example", send_name="Globex")
    queue(mail_app, acme, 2)
    queue(mail_app, globex, 1)
    assert deliver(mail_app) == 3
    assert len(acme_server.wait_for(2)) == 2
    assert globex_server.wait_for(1)[0].message["From"] == "Globex <noreply@globex.example>"


def test_a_leased_message_is_left_alone_until_its_lease_runs_out(mail_app, acme, smtp_server):
    point_settings_at(mail_app, acme, smtp_server)
    held, lost = queue(mail_app, acme, 2)
    OutboxMessage.update(
        status=status.SENDING, leased_by="other", lease_until=utcnow() + timedelta(minutes=1), attempts=1
    ).where(OutboxMessage.id == held.id).execute()
    OutboxMessage.update(
        status=status.SENDING, leased_by="dead", lease_until=utcnow() - timedelta(seconds=1), attempts=1
    ).where(OutboxMessage.id == lost.id).execute()
    assert deliver(mail_app) == 1
    assert smtp_server.wait_for(1)[0].message["Message-ID"] == lost.message_id
    assert (reloaded(lost).status, reloaded(lost).attempts) == (status.SENT, 2)
    assert reloaded(held).status == status.SENDING


def test_the_smtp_password_never_reaches_the_log(mail_app, acme, smtp_server_factory, caplog):
    caplog.set_level(logging.DEBUG)
    server = smtp_server_factory(mode="starttls", auth=AUTH)
    point_settings_at(mail_app, acme, server)
    queue(mail_app, acme)
    deliver(mail_app)
    server.wait_for(1)
    assert "sent" in caplog.text
    assert SMTP_PASSWORD not in caplog.text


def test_run_worker_delivers_until_told_to_stop(mail_app, acme, smtp_server):
    point_settings_at(mail_app, acme, smtp_server)
    mail_app.config["WORKER_POLL_SECONDS"] = 0.05
    stop = threading.Event()
    thread = threading.Thread(target=run_worker, args=(mail_app,), kwargs={"stop_event": stop})
    thread.start()
    try:
        queue(mail_app, acme, 2)
        smtp_server.wait_for(2)
    finally:
        stop.set()
        thread.join(5)
    assert not thread.is_alive()


def test_run_worker_once_delivers_what_is_due_and_returns(mail_app, acme, smtp_server):
    point_settings_at(mail_app, acme, smtp_server)
    queue(mail_app, acme, 5)
    run_worker(mail_app, once=True, batch_size=2)
    assert len(smtp_server.messages) == 5
    assert deliver_due(mail_app) == 0


def test_retry_now_and_discard(mail_app, acme, alice, closed_port):
    point_settings_at(mail_app, acme, None, smtp_host="127.0.0.1", smtp_port=closed_port, encryption="none")
    notice, dropped = queue(mail_app, acme, 2)
    reset = reset_mail(mail_app, acme, alice)
    deliver(mail_app)
    assert retry_now(reloaded(notice))
    again = reloaded(notice)
    assert (again.status, again.attempts) == (status.QUEUED, 0) and again.next_attempt_at <= utcnow()
    assert not retry_now(reloaded(reset))  # the user asks for a new link instead

    assert discard(reloaded(dropped))
    assert reloaded(dropped).status == status.DISCARDED
    assert not retry_now(reloaded(dropped)) and not discard(reloaded(dropped))
    assert discard(reloaded(reset))
    assert (reloaded(reset).status, reloaded(reset).body_text) == (status.DISCARDED, None)


def test_enqueue_refuses_what_could_not_be_sent(mail_app, acme):
    for bad in (
        {"to": []},
        {"to": "carol@example.net"},
        {"to": ["carol@example.net\r\nBcc: x@evil.example"]},
        {"to": ["Carol <carol@example.net>"]},
        {"cc": ["not-an-address"]},
        {"subject": "\r\n"},
        {"subject": "x" * 256},
    ):
        with pytest.raises(ValueError):
            queue(mail_app, acme, **bad)
    with pytest.raises(ValueError):
        enqueue_mail(acme, "newsletter", to=["a@example.net"], subject="s", body_text="b")
    assert OutboxMessage.select().count() == 0


def test_an_idempotency_key_queues_once(mail_app, acme):
    (first,) = queue(mail_app, acme, idempotency_key="job-42")
    (second,) = queue(mail_app, acme, idempotency_key="job-42", subject="Another subject")
    assert first.id == second.id
    assert OutboxMessage.select().count() == 1


def test_retry_waits_double_up_to_the_cap_with_jitter_and_give_up_after_about_a_day():
    low = [retry_delay(n, base=30, cap=3600, give_up=86400, rng=_Fixed(0.0)) for n in range(1, 9)]
    high = [retry_delay(n, base=30, cap=3600, give_up=86400, rng=_Fixed(1.0)) for n in range(1, 9)]
    assert high == [30, 60, 120, 240, 480, 960, 1920, 3600]
    assert low == [delay / 2 for delay in high]
    waited, attempts = 0.0, 1
    while (delay := retry_delay(attempts, base=30, cap=3600, give_up=86400, rng=_Fixed(1.0))) is not None:
        waited += delay
        attempts += 1
    assert 23 * 3600 < waited <= 86400


class _Fixed:
    """A jitter source that always picks the same point of its range (0.0 = low end, 1.0 = high end)."""

    def __init__(self, point):
        self.point = point

    def uniform(self, low, high):
        return low + (high - low) * self.point


def test_the_worker_outlives_a_database_without_schema_and_says_so_once(tmp_path, smtp_server, caplog):
    app = create_app(
        {
            "INSTANCE_PATH": str(tmp_path / "instance"),
            "WORKER_POLL_SECONDS": 0.02,
            "BASE_URL": "http://mail.example.test",
            "SMTP_ALLOWED_HOSTS": LOOPBACK_ALLOWED,
        }
    )
    stop = threading.Event()
    thread = threading.Thread(target=run_worker, args=(app,), kwargs={"stop_event": stop})
    thread.start()
    try:
        def failures():
            return [record for record in caplog.records if "outbox pass failed" in record.getMessage()]

        deadline = time.monotonic() + 10  # the thread's first pass, however busy the machine
        while not failures() and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.3)  # many more passes, all failing: no tables yet
        assert len(failures()) == 1
        with app.app_context():
            migrations.migrate()  # as `exastro-mail init-db` would
            organization = make_org()
            point_settings_at(app, organization, smtp_server)
            queue(app, organization)
        smtp_server.wait_for(1)
    finally:
        stop.set()
        thread.join(5)
    assert not thread.is_alive()
