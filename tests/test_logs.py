"""An org admin reads the delivery log and the audit log, and retries or discards mail that did not go out."""

import json
import re
from datetime import timedelta

import pytest

from exastro_mail.auth.sessions import token_hash
from exastro_mail.outbox.enqueue import enqueue_mail
from exastro_mail.outbox.worker import deliver_due
from exastro_mail.store.db import db
from exastro_mail.store.models import AuditEvent, OutboxMessage, ResetToken, utcnow
from tests.conftest import VALID_SETTINGS, build_app, csrf_token_from, make_org, make_user

MAIL_LOG = "/acme/platform/mail-log"
AUDIT_LOG = "/acme/platform/audit-log"
RESET_LINK = "http://mail.example.test/acme/reset-password/Zm9yZ2V0LW1lLW5vdC10aGlzLXRva2Vu"


@pytest.fixture
def admin_client(client, admin, auth):
    auth.login()
    return client


def queue(
    app,
    org,
    kind="notification",
    *,
    subject="Disk almost full",
    to=("ops@example.com",),
    minutes_ago=0,
    **changes,
):
    """An outbox row as the outbox makes it, then moved to the state a test needs."""
    with app.app_context(), db.atomic():
        message = enqueue_mail(
            org,
            kind,
            to=list(to),
            subject=subject,
            body_text="Body of the mail",
            cc=changes.pop("cc", ()),
            bcc=changes.pop("bcc", ()),
            reset_token=changes.pop("reset_token", None),
        )
    changes.setdefault("created_at", utcnow() - timedelta(minutes=minutes_ago))
    OutboxMessage.update(**changes).where(OutboxMessage.id == message.id).execute()
    return OutboxMessage.get_by_id(message.id)


def reset_mail(app, org, user):
    token = ResetToken.create(
        user=user,
        token_hash=token_hash("reset-token"),
        email=user.email,
        expires_at=utcnow() + timedelta(minutes=30),
    )
    with app.app_context(), db.atomic():
        message = enqueue_mail(
            org,
            "password_reset",
            to=[user.email],
            subject="Reset your password",
            body_text=f"Open {RESET_LINK} to choose a new password.",
            body_html=f'<a href="{RESET_LINK}">Reset</a>',
            reset_token=token,
        )
    return message


def rows_of(html):
    return re.findall(r'<tr id="mail-(\d+)" data-status="(\w+)">', html)


def without_breaks(html):
    """The page without the <wbr> that let addresses wrap after @ and dots."""
    return html.replace("<wbr>", "")


def test_the_delivery_log_shows_each_mail_but_never_a_body_or_link(admin_client, org, admin, app):
    reset_mail(app, org, admin)
    queue(
        app,
        org,
        subject="Backup failed",
        to=["ops@example.com", "dev@example.com"],
        cc=["lead@example.com"],
        bcc=["audit@example.com"],
        status="failed",
        attempts=3,
        last_error="550 5.1.1 no such user (RCPT TO)",
        minutes_ago=5,
    )
    html = admin_client.get(MAIL_LOG).get_data(as_text=True)
    assert "ops@<wbr>example.<wbr>com" in html  # wraps after the @ or the dot, never inside a word
    html = without_breaks(html)
    assert "ops@example.com, dev@example.com" in re.sub(r"<[^>]+>", "", html)
    for text in (
        "Password reset",
        "Reset your password",
        "admin@example.com",
        "Notification",
        "Backup failed",
        "lead@example.com",
        "audit@example.com",
        "550 5.1.1 no such user (RCPT TO)",
        ">Failed<",
        ">Queued<",
    ):
        assert text in html
    for header in (
        "Queued",
        "Kind",
        "Recipients",
        "Subject",
        "Status",
        "Attempts",
        "Next attempt",
        "Last error",
    ):
        assert f'<th scope="col">{header}</th>' in html
    assert "reset-password" not in html and "Zm9yZ2V0" not in html
    assert "Body of the mail" not in html
    assert re.search(
        r'<time datetime="\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ">'  # exact, for machines; for people:
        r"\w{3} \d{1,2}, \d{4}, \d{1,2}:\d\d:\d\d\s[AP]M UTC</time>",  # the reader's locale and zone
        html,
    )


def link(html, name):
    """The href of a pager link (newest, newer, older, oldest), unescaped; None when it is not there."""
    match = re.search(rf'<a href="([^"]+)"[^>]*id="[\w-]+-{name}"', html)
    return match.group(1).replace("&amp;", "&") if match else None


def test_newest_first_and_paged_by_newer_and_older_links_with_htmx(admin_client, org, app):
    ids = [queue(app, org, subject=f"Event {n}", minutes_ago=100 - n).id for n in range(30)]
    page_one = admin_client.get(MAIL_LOG).get_data(as_text=True)
    assert [int(i) for i, _ in rows_of(page_one)] == ids[::-1][:25]
    assert "25 entries shown" in page_one and "of 30" not in page_one  # nothing is counted
    assert link(page_one, "newer") is None and link(page_one, "newest") is None
    older = link(page_one, "older")
    assert older.startswith("/acme/platform/mail-log?before=") and 'rel="next"' in page_one

    page_two = admin_client.get(older, headers={"HX-Request": "true", "HX-Target": "mail-log"})
    text = page_two.get_data(as_text=True)
    assert "<html" not in text and text.lstrip().startswith('<div id="mail-log"')
    assert "HX-Target" in page_two.headers["Vary"]
    assert [int(i) for i, _ in rows_of(text)] == ids[::-1][25:]
    assert "5 entries shown" in text and link(text, "older") is None
    assert f'hx-get="{link(text, "newer")}"'.replace("&", "&amp;") in text

    newer = admin_client.get(link(text, "newer")).get_data(as_text=True)
    assert rows_of(newer) == rows_of(page_one)
    oldest = admin_client.get(MAIL_LOG + "?at=oldest").get_data(as_text=True)
    assert [int(i) for i, _ in rows_of(oldest)] == ids[::-1][5:]  # a full page, ending at the oldest
    assert link(oldest, "older") is None and link(oldest, "newest") == MAIL_LOG
    assert rows_of(admin_client.get(MAIL_LOG + "?before=garbage").get_data(as_text=True)) == rows_of(page_one)


def test_a_page_size_and_a_date_range_narrow_the_delivery_log(admin_client, org, app):
    old = queue(app, org, subject="Last week", minutes_ago=7 * 24 * 60)
    recent = [queue(app, org, subject=f"Today {n}", minutes_ago=n).id for n in range(60)]
    page = admin_client.get(MAIL_LOG + "?size=50").get_data(as_text=True)
    assert [int(i) for i, _ in rows_of(page)] == recent[:50]
    assert "size=50" in link(page, "older")
    last_week = (utcnow() - timedelta(days=7)).date().isoformat()
    only = admin_client.get(f"{MAIL_LOG}?from={last_week}&to={last_week}").get_data(as_text=True)
    assert rows_of(only) == [(str(old.id), "queued")]
    assert f'value="{last_week}"' in only
    two_hours_ago = (
        (utcnow() - timedelta(hours=2)).date().isoformat()
    )  # the day of every recent mail, or before
    since = admin_client.get(f"{MAIL_LOG}?from={two_hours_ago}&size=100").get_data(as_text=True)
    assert str(old.id) not in [i for i, _ in rows_of(since)] and len(rows_of(since)) == 60


@pytest.mark.parametrize(
    ("query", "field", "message"),
    [
        ("from=yesterday", "from", "Enter a date as YYYY-MM-DD, as in 2026-04-01."),
        ("from=2026-05-02&to=2026-05-01", "to", "The end of the range must not be before its start."),
    ],
)
def test_a_bad_date_is_said_next_to_its_field(admin_client, org, app, query, field, message):
    queue(app, org)
    for log in (MAIL_LOG, AUDIT_LOG):
        response = admin_client.get(f"{log}?{query}")
        html = response.get_data(as_text=True)
        assert response.status_code == 200
        name = "mail-log" if log == MAIL_LOG else "audit-log"
        assert f'<p class="error" id="{name}-{field}-error">{message}</p>' in html
        assert f'aria-describedby="{name}-{field}-error"' in html


def test_filter_by_status(admin_client, org, app):
    failed = queue(app, org, subject="Refused", status="failed", last_error="550 no")
    queue(app, org, subject="Delivered", status="sent", sent_at=utcnow())
    html = admin_client.get(MAIL_LOG + "?status=failed").get_data(as_text=True)
    assert rows_of(html) == [(str(failed.id), "failed")]
    assert '<option value="failed" selected>' in html
    pages = admin_client.get(MAIL_LOG + "?status=failed&page=1", headers={"HX-Target": "mail-log"})
    assert "Delivered" not in pages.get_data(as_text=True)
    assert "No mail with status “expired”." in admin_client.get(MAIL_LOG + "?status=expired").get_data(
        as_text=True
    )
    assert len(rows_of(admin_client.get(MAIL_LOG + "?status=bogus").get_data(as_text=True))) == 2


def test_retry_now_queues_a_failed_notification_again_and_is_audited(admin_client, org, app):
    message = queue(
        app,
        org,
        status="failed",
        attempts=7,
        last_error="421 try later",
        next_attempt_at=utcnow() + timedelta(hours=5),
    )
    assert f'id="retry-{message.id}"' in admin_client.get(MAIL_LOG).get_data(as_text=True)
    response = admin_client.post(f"{MAIL_LOG}/{message.id}/retry", data={"status": "failed", "size": "50"})
    assert response.status_code == 303
    assert response.headers["Location"] == "/acme/platform/mail-log?size=50&status=failed"
    assert "The mail is queued to be sent now." in admin_client.get(response.headers["Location"]).get_data(
        as_text=True
    )
    message = OutboxMessage.get_by_id(message.id)
    assert (message.status, message.attempts) == ("queued", 0)
    assert message.next_attempt_at <= utcnow()
    event = AuditEvent.get(AuditEvent.action == "outbox.retried")
    assert event.actor == "admin" and json.loads(event.detail)["message_id"] == message.id


def test_each_recipient_shows_what_became_of_it(admin_client, org, app):
    outcomes = {
        "ops@example.com": {"status": "accepted", "reply": None},
        "lead@example.com": {"status": "retrying", "reply": "450 4.2.0 Mailbox busy"},
        "audit@example.com": {"status": "refused", "reply": "550 5.1.1 No such user"},
    }
    message = queue(
        app,
        org,
        to=["ops@example.com", "dev@example.com"],
        cc=["lead@example.com"],
        bcc=["audit@example.com"],
        status="queued",
        recipient_outcomes=json.dumps(outcomes),
    )
    html = without_breaks(admin_client.get(MAIL_LOG).get_data(as_text=True))
    row = re.search(rf'<tr id="mail-{message.id}".*?</tr>', html, re.S).group(0)
    outcome = r'{} <span class="recipient-outcome">\({}\)</span>'
    assert re.search(outcome.format("ops@example.com", "Accepted"), row), row
    assert re.search(outcome.format("lead@example.com", "Retrying: 450 4.2.0 Mailbox busy"), row)
    assert re.search(outcome.format("audit@example.com", "Refused: 550 5.1.1 No such user"), row)
    assert 'class="recipient recipient-pending">dev@example.com</span>' in row  # not tried yet


def test_retrying_by_hand_tries_again_only_the_recipients_that_did_not_accept(admin_client, org, app):
    outcomes = {
        "ops@example.com": {"status": "accepted", "reply": None},
        "dev@example.com": {"status": "refused", "reply": "550 5.1.1 No such user"},
    }
    message = queue(
        app,
        org,
        to=["ops@example.com", "dev@example.com"],
        status="failed",
        recipient_outcomes=json.dumps(outcomes),
    )
    admin_client.post(f"{MAIL_LOG}/{message.id}/retry", data={"page": "1"})
    message = OutboxMessage.get_by_id(message.id)
    assert message.status == "queued"
    assert json.loads(message.recipient_outcomes) == {"ops@example.com": outcomes["ops@example.com"]}


def test_discard_with_htmx_refreshes_the_table(admin_client, org, app):
    message = queue(app, org, status="queued", last_error="451 greylisted")
    response = admin_client.post(
        f"{MAIL_LOG}/{message.id}/discard",
        data={"page": "1"},
        headers={"HX-Request": "true", "HX-Target": "mail-log"},
    )
    text = response.get_data(as_text=True)
    assert response.status_code == 200 and "<html" not in text
    assert "The mail was discarded; it will not be sent." in text
    assert rows_of(text) == [(str(message.id), "discarded")]
    assert f'id="discard-{message.id}"' not in text
    assert OutboxMessage.get_by_id(message.id).status == "discarded"
    assert AuditEvent.select().where(AuditEvent.action == "outbox.discarded").count() == 1


def test_sent_mail_and_reset_mail_cannot_be_retried(admin_client, org, admin, app):
    sent = queue(app, org, status="sent", sent_at=utcnow())
    reset = reset_mail(app, org, admin)
    html = admin_client.get(MAIL_LOG).get_data(as_text=True)
    assert f'id="retry-{sent.id}"' not in html and f'id="discard-{sent.id}"' not in html
    assert f'id="retry-{reset.id}"' not in html and f'id="discard-{reset.id}"' in html
    admin_client.post(f"{MAIL_LOG}/{sent.id}/discard")
    assert "This mail can no longer be discarded." in admin_client.get(MAIL_LOG).get_data(as_text=True)
    assert OutboxMessage.get_by_id(sent.id).status == "sent"
    assert not AuditEvent.select().where(AuditEvent.action.startswith("outbox.")).exists()


def test_another_organizations_mail_cannot_be_touched(admin_client, org, app):
    other = queue(app, make_org("globex", "Globex"), status="failed")
    assert admin_client.post(f"{MAIL_LOG}/{other.id}/discard").status_code == 404
    assert admin_client.post(f"/globex/platform/mail-log/{other.id}/discard").status_code == 404
    assert OutboxMessage.get_by_id(other.id).status == "failed"
    assert str(other.id) not in [i for i, _ in rows_of(admin_client.get(MAIL_LOG).get_data(as_text=True))]


def test_retry_and_discard_need_the_csrf_token(tmp_path, app):
    app = build_app(tmp_path, WTF_CSRF_ENABLED=True)
    with app.app_context():
        org = make_org()
        make_user(org, "admin", admin=True)
        message = queue(app, org, status="failed")
        client = app.test_client()
        login_page = client.get("/acme/login").get_data(as_text=True)
        client.post(
            "/acme/login",
            data={
                "username": "admin",
                "password": "correct horse battery",
                "csrf_token": csrf_token_from(login_page),
            },
        )
        assert client.post(f"{MAIL_LOG}/{message.id}/discard").status_code == 400
        assert OutboxMessage.get_by_id(message.id).status == "failed"
        token = csrf_token_from(client.get(MAIL_LOG).get_data(as_text=True))
        response = client.post(
            f"{MAIL_LOG}/{message.id}/discard",
            headers={"X-CSRFToken": token, "HX-Request": "true", "HX-Target": "mail-log"},
        )
        assert response.status_code == 200
        assert OutboxMessage.get_by_id(message.id).status == "discarded"


def test_the_audit_log_says_who_did_what_without_secrets(admin_client, org, client):
    url = "/acme/platform/settings/mailserver"
    admin_client.post(url, data=VALID_SETTINGS)
    admin_client.post(
        url,
        data={
            **VALID_SETTINGS,
            "smtp_host": "relay.example.net",
            "authentication_password": "n3w-SMTP-secret",
        },
    )
    client.post("/acme/login", data={"username": "admin", "password": "wrong password!"})
    html = without_breaks(admin_client.get(AUDIT_LOG).get_data(as_text=True))
    actions = re.findall(r'<tr data-action="([\w.]+)">', html)
    assert actions == [
        "login_failed",
        "mail_server_settings.changed",
        "mail_server_settings.registered",
        "login",
    ]
    assert "Mail sending server settings changed" in html and "Failed login" in html and "Logged in" in html
    assert re.search(r"Fields:</span> SMTP server host, Authentication password", html)
    assert "n3w-SMTP-secret" not in html and "s3cret-SMTP-pass" not in html
    assert "127.0.0.1" in html
    forms = re.findall(r"<form [^>]*>", html.split("</header>", 1)[1])
    assert forms and all('method="get"' in form for form in forms)  # filters only: nothing to edit or delete


def test_the_audit_log_is_paginated_and_read_only(admin_client, org):
    for n in range(30):
        AuditEvent.create(
            organization=org,
            actor="robot",
            action="notification.queued",
            detail=json.dumps({"notification_id": n}),
            created_at=utcnow() - timedelta(days=1, minutes=n),
        )
    first = admin_client.get(AUDIT_LOG).get_data(as_text=True)
    assert "25 entries shown" in first  # the admin's own login is the newest
    assert "Notification queued" in first and "Notification:</span> 0" in first
    second = admin_client.get(link(first, "older"), headers={"HX-Request": "true", "HX-Target": "audit-log"})
    text = second.get_data(as_text=True)
    assert "<html" not in text and "Notification:</span> 29" in text and "HX-Target" in second.headers["Vary"]
    assert "6 entries shown" in text
    for method in ("post", "put", "delete"):
        assert getattr(admin_client, method)(AUDIT_LOG).status_code == 405
    assert AuditEvent.select().count() == 31


@pytest.mark.parametrize("path", [MAIL_LOG, AUDIT_LOG])
def test_only_this_orgs_admins_may_read_the_logs(client, auth, admin, plain_user, path):
    response = client.get(path)
    assert response.status_code == 302 and response.headers["Location"].startswith("/acme/login?next=")
    response = client.get(path, headers={"HX-Request": "true", "HX-Target": "mail-log"})
    assert response.headers["HX-Redirect"].startswith("/acme/login") and b"<table" not in response.data
    auth.login("bob")
    assert client.get(path).status_code == 403
    assert "Delivery log" not in client.get("/acme/platform/").get_data(as_text=True)
    make_user(make_org("globex", "Globex"), "hank", admin=True)
    auth.login("hank", org_id="globex")
    assert client.get(path).status_code == 404


def test_plain_user_cannot_retry_or_discard(client, auth, org, plain_user, app):
    message = queue(app, org, status="failed")
    assert client.post(f"{MAIL_LOG}/{message.id}/discard").status_code == 302
    auth.login("bob")
    assert client.post(f"{MAIL_LOG}/{message.id}/discard").status_code == 403
    assert client.post(f"{MAIL_LOG}/{message.id}/retry").status_code == 403
    assert OutboxMessage.get_by_id(message.id).status == "failed"


def test_the_menu_leads_admins_to_both_logs(admin_client):
    menu = admin_client.get("/acme/platform/").get_data(as_text=True)
    assert '<a href="/acme/platform/mail-log">Delivery log</a>' in menu
    assert '<a href="/acme/platform/audit-log">Audit log</a>' in menu


def test_test_mails_are_in_the_delivery_log_marked_as_test_mails(admin_client, org, app, smtp_server):
    form = {
        **VALID_SETTINGS,
        "smtp_host": smtp_server.host,
        "smtp_port": str(smtp_server.port),
        "encryption": "none",
        "authentication_enable": "",
        "authentication_user": "",
        "authentication_password": "",
    }
    admin_client.post(
        "/acme/platform/settings/mailserver/test-mail", data={**form, "test_recipient": "ops@example.net"}
    )
    smtp_server.wait_for(1)
    refused = {**form, "smtp_port": str(smtp_server.port + 1 if smtp_server.port < 65535 else 1)}
    admin_client.post(
        "/acme/platform/settings/mailserver/test-mail", data={**refused, "test_recipient": "dev@example.net"}
    )
    html = without_breaks(admin_client.get(MAIL_LOG).get_data(as_text=True))
    rows = rows_of(html)
    assert [row_status for _, row_status in rows] == ["failed", "sent"]
    failed_row, sent_row = (re.search(rf'<tr id="mail-{i}".*?</tr>', html, re.S).group(0) for i, _ in rows)
    assert '<td class="test-mail">Test mail</td>' in sent_row and "Test mail from ACME Corp" in sent_row
    assert "ops@example.net" in sent_row and "dev@example.net" in failed_row
    assert "retry-" not in failed_row and "discard-" not in failed_row  # a record of a test, not mail to send
    with app.app_context():
        assert deliver_due(app) == 0  # no worker ever sends it again
    assert len(smtp_server.messages) == 1
