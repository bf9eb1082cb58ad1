"""The notifications API: other tools queue mail through the outbox and follow what became of it."""

import json

import pytest

from exastro_mail.outbox.enqueue import enqueue_mail
from exastro_mail.outbox.recipients import recipients_of
from exastro_mail.outbox.worker import deliver_due
from exastro_mail.store.models import AuditEvent, OutboxMessage
from tests.api_helpers import EXASTRO_SETTINGS, NOTIFICATIONS, SETTINGS
from tests.conftest import make_org

ALERT = {
    "to": ["ops@example.com", "oncall@example.com"],
    "cc": ["lead@example.com"],
    "bcc": ["archive@example.com"],
    "title": "Disk almost full on web-1",
    "message": "Filesystem / is 95% full.\nCheck web-1 before it stops.",
}


@pytest.fixture
def configured(api):
    """acme has settings pointing at a server nobody listens on (nothing is sent in these tests)."""
    assert api.post(SETTINGS, json=EXASTRO_SETTINGS).status_code == 200
    return api


def notify(api, headers=None, **changes):
    body = {**ALERT, **changes}
    return api.post(NOTIFICATIONS, json={k: v for k, v in body.items() if v is not ...}, headers=headers)


def assert_field_errors(response, *fields):
    assert response.status_code == 400, response.json
    assert response.json["result"] == "400-00001"
    assert set(response.json["errors"]) == set(fields)


def test_notification_is_queued_and_its_id_returned(configured):
    response = notify(configured)
    assert response.status_code == 202
    assert response.json["result"] == "000-00000"
    data = response.json["data"]
    assert (data["status"], data["attempts"], data["last_error"]) == ("queued", 0, None)
    assert data["recipient_count"] == {"to": 2, "cc": 1, "bcc": 1}
    row = OutboxMessage.get_by_id(data["id"])
    assert row.kind == "notification"
    assert json.loads(row.recipients) == {key: ALERT[key] for key in ("to", "cc", "bcc")}
    assert (row.subject, row.body_text) == (ALERT["title"], ALERT["message"])


def test_queueing_is_audited_with_counts_not_addresses(configured):
    notification_id = notify(configured).json["data"]["id"]
    event = AuditEvent.get(AuditEvent.action == "notification.queued")
    assert event.actor == "admin (API token tests)"
    assert json.loads(event.detail) == {"notification_id": notification_id, "to": 2, "cc": 1, "bcc": 1}


def test_status_tells_progress_but_not_the_text(configured):
    notification_id = notify(configured).json["data"]["id"]
    response = configured.get(f"{NOTIFICATIONS}/{notification_id}")
    assert response.status_code == 200
    data = response.json["data"]
    assert data["id"] == notification_id
    assert data["status"] == "queued"
    assert data["created_at"].endswith("Z") and data["next_attempt_at"].endswith("Z")
    assert data["sent_at"] is None
    text = response.get_data(as_text=True)
    assert "Filesystem" not in text and "ops@example.com" not in text


def test_notification_is_delivered_by_the_worker_and_reported_sent(app, api, smtp_server):
    settings = {**EXASTRO_SETTINGS, "smtp_host": smtp_server.host, "smtp_port": str(smtp_server.port)}
    settings.update(start_tls_enable=False, authentication_enable=False)
    assert api.post(SETTINGS, json=settings).status_code == 200
    notification_id = notify(api).json["data"]["id"]

    deliver_due(app)

    [received] = smtp_server.wait_for(1)
    assert sorted(received.recipients) == sorted(ALERT["to"] + ALERT["cc"] + ALERT["bcc"])
    assert received.message["Subject"] == ALERT["title"]
    assert "archive@example.com" not in received.raw.decode()  # Bcc stays off the headers
    assert received.message.get_content().strip() == ALERT["message"]
    data = api.get(f"{NOTIFICATIONS}/{notification_id}").json["data"]
    assert (data["status"], data["attempts"]) == ("sent", 1)
    assert data["sent_at"].endswith("Z")


def test_refused_notification_reports_the_servers_answer(app, api, smtp_server_factory):
    server = smtp_server_factory(replies={"RCPT": "550 5.1.1 No such mailbox here"})
    settings = {**EXASTRO_SETTINGS, "smtp_host": server.host, "smtp_port": str(server.port)}
    settings.update(start_tls_enable=False, authentication_enable=False)
    assert api.post(SETTINGS, json=settings).status_code == 200
    notification_id = notify(api, to=["ops@example.com"], cc=[], bcc=[]).json["data"]["id"]

    deliver_due(app)

    data = api.get(f"{NOTIFICATIONS}/{notification_id}").json["data"]
    assert data["status"] == "failed"
    assert "550" in data["last_error"] and "No such mailbox here" in data["last_error"]


def test_without_mail_server_settings_it_is_409_and_nothing_is_queued(api):
    response = notify(api)
    assert response.status_code == 409
    assert response.json["result"] == "409-00001"
    assert "no mail sending server settings" in response.json["message"]
    assert OutboxMessage.select().count() == 0


def test_a_retried_post_with_the_same_idempotency_key_returns_the_first(configured):
    key = {"Idempotency-Key": "alert-42-7f3c"}
    first = notify(configured, headers=key)
    again = notify(configured, headers=key)
    assert (first.status_code, again.status_code) == (202, 200)
    assert again.json["data"]["id"] == first.json["data"]["id"]
    assert OutboxMessage.select().count() == 1
    assert AuditEvent.select().where(AuditEvent.action == "notification.queued").count() == 1
    assert notify(configured).json["data"]["id"] != first.json["data"]["id"]  # no key, a new one


def test_the_same_key_with_another_notification_is_422(configured):
    key = {"Idempotency-Key": "alert-42-7f3c"}
    notify(configured, headers=key)
    response = notify(configured, headers=key, message="Something else entirely.")
    assert response.status_code == 422
    assert response.json["result"] == "422-00001"
    assert "Idempotency-Key" in response.json["errors"]
    assert OutboxMessage.select().count() == 1


def test_a_key_used_by_another_kind_of_mail_is_422(configured, org):
    enqueue_mail(
        org, "password_changed", to=["a@example.com"], subject="x", body_text="y", idempotency_key="k"
    )
    response = notify(configured, headers={"Idempotency-Key": "k"})
    assert response.status_code == 422


@pytest.mark.parametrize("key", ["", "x" * 256, "has space", "naïve"])
def test_malformed_idempotency_key_is_400(configured, key):
    response = notify(configured, headers={"Idempotency-Key": key})
    assert response.status_code == 400
    assert response.json["result"] == "400-00003"
    assert "Idempotency-Key" in response.json["errors"]
    assert OutboxMessage.select().count() == 0


@pytest.mark.parametrize(
    ("changes", "fields", "words"),
    [
        ({"to": [], "cc": ..., "bcc": ...}, ["to"], "at least one address"),
        ({"to": ..., "cc": ["x@example.com"]}, ["to"], "at least one address"),
        ({"to": "ops@example.com"}, ["to"], "list of mail addresses"),
        ({"to": ["ops@example.com", "not an address"]}, ["to[1]"], "not a valid mail address"),
        ({"cc": ["Ops <ops@example.com>"]}, ["cc[0]"], "address only"),
        ({"bcc": [42]}, ["bcc[0]"], "must be text"),
        ({"to": ["a@example.com\r\nBcc: x@example.com"]}, ["to[0]"], "one line"),
        ({"to": ["運用@example.net"]}, ["to[0]"], "ASCII letters, digits and symbols before the @"),
        ({"cc": ["x@example.com", "jörg@example.com"]}, ["cc[1]"], "ASCII"),
        ({"bcc": ["監査@example.com"]}, ["bcc[0]"], "ASCII"),
        (
            {
                "to": [f"u{i}@example.com" for i in range(400)],
                "cc": [f"c{i}@example.com" for i in range(101)],
            },
            ["to", "cc", "bcc"],
            "At most 500",
        ),
        ({"title": ...}, ["title"], "Enter a title"),
        ({"title": "   "}, ["title"], "Enter a title"),
        ({"title": "x" * 256}, ["title"], "at most 255"),
        ({"title": "Two\nlines"}, ["title"], "one line"),
        ({"title": ["a"]}, ["title"], "must be text"),
        ({"message": ...}, ["message"], "message text"),
        ({"message": {"text": "hi"}}, ["message"], "must be text"),
        ({"message": "nul\x00byte"}, ["message"], "NUL"),
        ({"message": "é" * (512 * 1024 + 1)}, ["message"], "1 MiB"),
    ],
)
def test_wrong_notification_is_400_naming_the_field_and_nothing_is_queued(configured, changes, fields, words):
    response = notify(configured, **changes)
    assert_field_errors(response, *fields)
    assert words in response.json["errors"][fields[0]]
    assert OutboxMessage.select().count() == 0


def test_limits_are_inclusive_500_addresses_255_characters_and_1_mib(configured):
    response = notify(
        configured,
        to=[f"u{i}@example.com" for i in range(498)],
        title="t" * 255,
        message="m" * (1024 * 1024),
    )
    assert response.status_code == 202
    assert response.json["data"]["recipient_count"] == {"to": 498, "cc": 1, "bcc": 1}


def test_a_recipient_on_an_internationalized_domain_is_queued_in_its_ascii_form(configured):
    response = notify(configured, to=["ops@メール.example.jp"], cc=[], bcc=[])
    assert response.status_code == 202, response.json
    assert recipients_of(OutboxMessage.get_by_id(response.json["data"]["id"]))["to"] == [
        "ops@xn--4dkua4c.example.jp"
    ]


def test_an_empty_message_with_a_title_is_fine(configured):
    assert notify(configured, message="").status_code == 202


@pytest.mark.parametrize("notification_id", ["999", "abc", "1.0", "99999999999999999999999"])
def test_unknown_notification_is_404(configured, notification_id):
    response = configured.get(f"{NOTIFICATIONS}/{notification_id}")
    assert response.status_code == 404
    assert response.json["result"] == "404-00002"


def test_other_kinds_of_mail_and_other_orgs_notifications_are_404(app, configured, org):
    with app.app_context():
        reset = enqueue_mail(org, "password_changed", to=["a@example.com"], subject="Changed", body_text="x")
    assert configured.get(f"{NOTIFICATIONS}/{reset.id}").status_code == 404
    globex = make_org("globex", "Globex")
    with app.app_context():
        theirs = enqueue_mail(globex, "notification", to=["a@example.com"], subject="Theirs", body_text="x")
    assert configured.get(f"{NOTIFICATIONS}/{theirs.id}").status_code == 404
