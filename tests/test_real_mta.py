"""Mail reaches a real mail server exactly as it should: Debian's Postfix, with Dovecot for SASL.

The server is tests/mta.py's instance (fixture mta). Settings and notifications go through the JSON
API, the test mail through the settings page, delivery through the outbox worker; what arrived is read
from the Maildir and from what Postfix and Dovecot logged.

Each bug issue 17 found has a test here that failed before its fix.
"""

import json
import re
import time
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

import pytest

from exastro_mail.api_tokens.tokens import issue_token
from exastro_mail.store.models import OutboxMessage
from tests.api_helpers import NOTIFICATIONS, SETTINGS, ApiClient, bearer
from tests.conftest import VALID_SETTINGS, AuthActions, build_app, make_org, make_user
from tests.outbox_helpers import deliver

# A real server's pace: Dovecot delays a failed login by 2 s and every later one from the same
# address by more, so the app gets its default timeout.
SMTP_TIMEOUT = 10
ENCRYPTION = {"plain": "none", "submission": "starttls", "smtps": "ssl", "rate_limited": "none"}
SETTINGS_URL = "/acme/platform/settings/mailserver"
TEST_MAIL_URL = SETTINGS_URL + "/test-mail"
MAIL_LOG_URL = "/acme/platform/mail-log"
HTMX = {"HX-Request": "true", "HX-Target": "test-mail-result"}

CAROL, DAVE, ERIN = "carol@example.net", "dave@example.net", "erin@example.net"
BUSY, GONE = "busy@example.net", "gone@example.net"
MAILBOX_BUSY = "450 4.2.0 Mailbox busy"
NO_SUCH_USER = "550 5.1.1 No such user here"
FAILED_LOGIN = r"SASL \w+ authentication failed"
ALERT = {"title": "Backup finished", "message": "The nightly backup finished."}


def mta_app(tmp_path, **overrides):
    """An app as an install runs it (SMTP timeout, 500 pages), with retries due within a second."""
    config = {
        "SMTP_TIMEOUT": SMTP_TIMEOUT,
        "SMTP_DENY_PRIVATE_HOSTS": False,  # Postfix is on 127.0.0.1
        "OUTBOX_RETRY_BASE_SECONDS": 0.2,
        "OUTBOX_RETRY_MAX_SECONDS": 1,
        "PROPAGATE_EXCEPTIONS": False,  # an unexpected error answers 500, as it would in production
        **overrides,
    }
    return build_app(tmp_path, **config)


@pytest.fixture
def app(tmp_path, mta):
    """The app trusting the CA of the Postfix instance's certificate."""
    app = mta_app(tmp_path, SMTP_CA_FILE=mta.ca_file)
    with app.app_context():
        yield app


@pytest.fixture
def admin_client(client, admin, auth):
    auth.login()
    return client


def exastro_settings(mta, service: str, *, auth: bool | None = None, **changes) -> dict:
    """The API's settings for one service of the Postfix instance; AUTH where the service wants it."""
    auth = service in ("submission", "smtps") if auth is None else auth
    return {
        "smtp_host": mta.host,
        "smtp_port": str(mta.ports[service]),
        "ssl_enable": ENCRYPTION[service] == "ssl",
        "start_tls_enable": ENCRYPTION[service] == "starttls",
        "authentication_enable": auth,
        "authentication_user": mta.user if auth else None,
        "authentication_password": mta.password if auth else None,
        "send_from": "noreply@example.com",
        "send_name": "ACME notifications",
        "reply_to": "support@example.com",
        "reply_name": "ACME support",
        "envelope_from": "bounces@example.com",
        **changes,
    }


def configure(api, mta, service: str, **changes) -> None:
    response = api.post(SETTINGS, json=exastro_settings(mta, service, **changes))
    assert response.status_code == 200, response.json


def notify(api, to, **changes) -> int:
    """Queue a notification through the API; its id."""
    response = api.post(NOTIFICATIONS, json={"to": to, **ALERT, **changes})
    assert response.status_code == 202, response.json
    return response.json["data"]["id"]


def notification(api, notification_id: int) -> dict:
    response = api.get(f"{NOTIFICATIONS}/{notification_id}")
    assert response.status_code == 200, response.json
    return response.json["data"]


def deliver_until(app, done, timeout: float = 30) -> None:
    """Run worker passes until done() holds (retries are due within a second in these apps)."""
    deadline = time.monotonic() + timeout
    while True:
        deliver(app)
        if done():
            return
        assert time.monotonic() < deadline, f"not done after {timeout} s of worker passes"
        time.sleep(0.2)


def mail_log_row(client, message_id: int) -> str:
    """The delivery log's row of one mail, as an org admin sees it."""
    html = client.get(MAIL_LOG_URL).get_data(as_text=True)
    match = re.search(rf'<tr id="mail-{message_id}".*?</tr>', html, re.S)
    assert match, html
    return match.group(0)


def settings_form(mta, service: str, *, auth: bool | None = None, **changes) -> dict:
    """The settings form filled in for one service of the Postfix instance, with a test recipient."""
    auth = service in ("submission", "smtps") if auth is None else auth
    return {
        **VALID_SETTINGS,
        "smtp_host": mta.host,
        "smtp_port": str(mta.ports[service]),
        "encryption": ENCRYPTION[service],
        "authentication_enable": "y" if auth else "",
        "authentication_user": mta.user if auth else "",
        "authentication_password": mta.password if auth else "",
        "trusted_ca_pem": "",
        "test_recipient": CAROL,
        **changes,
    }


def send_test_mail(client, data) -> tuple[int, str]:
    response = client.post(TEST_MAIL_URL, data=data, headers=HTMX)
    return response.status_code, response.get_data(as_text=True)


def outcome_of(html: str) -> str:
    match = re.search(r'id="test-mail-outcome"[^>]*>(.*?)</p>', html, re.S)
    assert match, html
    return match.group(1)


def hint_of(html: str) -> str:
    match = re.search(r'id="test-mail-hint"[^>]*>(.*?)</p>', html, re.S)
    return match.group(1) if match else ""


def ehlo_name(delivered) -> str:
    """The name the client gave in EHLO, as Postfix wrote it into the Received header."""
    match = re.match(r"from (\S+) \(", delivered.headers("Received")[0])
    assert match, delivered.headers("Received")
    return match.group(1)


@pytest.mark.parametrize("service", ["plain", "submission", "smtps"])
def test_a_notification_arrives_with_its_headers_over_each_encryption_method(app, api, mta, service):
    configure(api, mta, service, send_name="エクサストロ通知", reply_name="サポート窓口")
    notification_id = notify(
        api, [CAROL], title="バックアップ完了のお知らせ", message="夜間バックアップが完了しました。"
    )
    deliver(app)

    [delivered] = mta.wait_for(1)
    message = delivered.message
    assert delivered.recipient == CAROL
    assert message["Return-Path"] == "<bounces@example.com>"
    [sender] = message["From"].addresses
    assert (sender.display_name, sender.addr_spec) == ("エクサストロ通知", "noreply@example.com")
    [reply_to] = message["Reply-To"].addresses
    assert (reply_to.display_name, reply_to.addr_spec) == ("サポート窓口", "support@example.com")
    assert message["To"] == CAROL
    assert message["Subject"] == "バックアップ完了のお知らせ"
    assert message.get_content().strip() == "夜間バックアップが完了しました。"
    # Japanese goes as RFC 2047 encoded words: the header section is ASCII, no SMTPUTF8 needed.
    assert delivered.header_block.isascii()
    assert "=?utf-8?" in delivered.headers("Subject")[0].lower()
    assert message["Message-ID"] == OutboxMessage.get_by_id(notification_id).message_id
    assert re.fullmatch(r"<[^<>@\s]+@example\.com>", message["Message-ID"])
    sent_at = parsedate_to_datetime(message["Date"])
    assert sent_at.tzinfo is not None and abs(datetime.now(UTC) - sent_at) < timedelta(minutes=5)
    assert notification(api, notification_id)["status"] == "sent"

    received = delivered.headers("Received")[0]
    log = mta.postfix_log()
    if service == "plain":
        assert " with ESMTP id " in received  # neither TLS nor AUTH
        assert "TLS connection established" not in log and "sasl_username" not in log
    else:
        assert " with ESMTPSA id " in received  # S: TLS, A: authenticated
        assert re.search(rf"postfix/{service}/smtpd\[\d+\]: \S+ TLS connection established", log)
        assert f"sasl_method=PLAIN, sasl_username={mta.user}" in log


@pytest.mark.parametrize("service", ["plain", "submission", "smtps"])
def test_the_test_mail_arrives_over_each_encryption_method(admin_client, mta, service):
    status, html = send_test_mail(admin_client, settings_form(mta, service))
    assert status == 200
    assert f"The server accepted the test mail to {CAROL}." in outcome_of(html), html
    [delivered] = mta.wait_for(1)
    assert delivered.recipient == CAROL
    assert delivered.message["Subject"] == "Test mail from ACME Corp"
    assert delivered.message["Return-Path"] == "<bounces@example.com>"
    assert delivered.message["From"] == "ACME notifications <noreply@example.com>"
    with_tls_and_auth = " with ESMTPSA id " in delivered.headers("Received")[0]
    assert with_tls_and_auth == (service != "plain")


def test_a_wrong_password_fails_the_notification_as_an_authentication_failure(app, api, mta):
    configure(api, mta, "submission", authentication_password="not the password")
    notification_id = notify(api, [CAROL])
    deliver(app)

    data = notification(api, notification_id)
    assert (data["status"], data["attempts"]) == ("failed", 1)
    assert data["last_error"].startswith("535 5.7.8 Error: authentication failed")
    assert "not the password" not in json.dumps(data)
    assert re.search(FAILED_LOGIN, mta.postfix_log())
    assert "Password mismatch" in mta.dovecot_log()
    mta.wait_until_idle()
    assert mta.delivered() == []


@pytest.mark.parametrize("service", ["submission", "smtps"])
def test_a_server_certificate_from_an_unknown_ca_is_refused_with_a_hint(tmp_path, mta, service):
    app = mta_app(tmp_path)  # trusts only the system's CAs, which never issued Postfix's certificate
    with app.app_context():
        make_user(make_org(), "admin", admin=True)
        client = app.test_client()
        AuthActions(client).login()

        status, html = send_test_mail(client, settings_form(mta, service))
        assert status == 200
        assert "failed at <strong>TLS</strong>" in outcome_of(html)
        assert "certificate verify failed: unable to get local issuer certificate" in outcome_of(html)
        assert "issued by an unknown CA; add that CA certificate as the Trusted CA certificate" in hint_of(
            html
        )
        assert ("AUTH", "Not reached") in re.findall(
            r'class="step-name">([^<]+)</span>\s*<span class="step-result">([^<]+)</span>', html
        )
        mta.wait_for_log(rf"postfix/{service}/smtpd\[\d+\]: disconnect from ")
        assert mta.delivered() == []

        # Following the hint works: with the CA pasted into the form, the same test mail arrives.
        with open(mta.ca_file) as ca:
            status, html = send_test_mail(client, settings_form(mta, service, trusted_ca_pem=ca.read()))
        assert f"The server accepted the test mail to {CAROL}." in outcome_of(html), html
        mta.wait_for(1, CAROL)


def test_postfix_rate_limit_is_retried_until_every_notification_is_delivered(app, api, mta):
    configure(api, mta, "rate_limited")
    count = mta.rate_limit * 2 + 1  # three windows of the limit
    ids = [notify(api, [CAROL], title=f"Backup {number} finished") for number in range(count)]

    deliver_until(app, lambda: all(notification(api, i)["status"] == "sent" for i in ids), timeout=60)

    mta.wait_until_idle()
    delivered = mta.delivered(CAROL)
    expected = {OutboxMessage.get_by_id(i).message_id for i in ids}
    assert sorted(item.message["Message-ID"] for item in delivered) == sorted(expected)  # each once
    assert "warning: Message delivery request rate limit exceeded" in mta.postfix_log()  # anvil refused
    assert max(notification(api, i)["attempts"] for i in ids) > 1


# Issue 17 bug 1: a recipient refused among several.


def test_a_recipient_busy_for_now_gets_the_mail_on_retry_and_the_others_get_it_once(
    app, api, admin_client, mta
):
    mta.refuse_recipient(BUSY, MAILBOX_BUSY)
    configure(api, mta, "plain")
    notification_id = notify(api, [CAROL], cc=[BUSY], bcc=[DAVE])
    deliver(app)

    assert sorted(item.recipient for item in mta.wait_for(2)) == [CAROL, DAVE]
    data = notification(api, notification_id)
    assert data["status"] == "queued"
    assert data["last_error"].startswith("sent to 2 of 3, 1 retrying: 450 4.2.0 <busy@example.net>"), data
    outcomes = data["recipient_outcomes"]
    assert [item["status"] for field in ("to", "cc", "bcc") for item in outcomes[field]] == [
        "accepted",
        "retrying",
        "accepted",
    ]
    assert outcomes["cc"][0]["reply"].startswith("450 4.2.0 <busy@example.net>")
    row = mail_log_row(admin_client, notification_id)
    assert "sent to 2 of 3, 1 retrying: 450 4.2.0" in row
    assert "Retrying: 450 4.2.0" in row  # beside the address

    mta.accept_recipient(BUSY)
    deliver_until(app, lambda: notification(api, notification_id)["status"] == "sent")
    mta.wait_for(1, BUSY)
    mta.wait_until_idle()
    assert sorted(item.recipient for item in mta.delivered()) == [BUSY, CAROL, DAVE]  # never twice
    data = notification(api, notification_id)
    assert data["last_error"] is None
    assert {item["status"] for items in data["recipient_outcomes"].values() for item in items} == {"accepted"}


def test_a_recipient_refused_for_good_is_reported_and_the_others_get_it_once(app, api, admin_client, mta):
    mta.refuse_recipient(GONE, NO_SUCH_USER)
    configure(api, mta, "plain")
    notification_id = notify(api, [CAROL, GONE, DAVE])
    deliver(app)

    assert sorted(item.recipient for item in mta.wait_for(2)) == [CAROL, DAVE]
    data = notification(api, notification_id)
    assert data["status"] == "sent"  # to the others; a permanent refusal is not retried
    assert data["last_error"].startswith("sent to 2 of 3, 1 refused: 550 5.1.1 <gone@example.net>"), data
    assert [item["status"] for item in data["recipient_outcomes"]["to"]] == [
        "accepted",
        "refused",
        "accepted",
    ]
    assert "550 5.1.1" in mail_log_row(admin_client, notification_id)
    time.sleep(1.5)  # past any retry the app would have planned
    deliver(app)
    mta.wait_until_idle()
    assert sorted(item.recipient for item in mta.delivered()) == [CAROL, DAVE]


# Issue 17 bug 2: one failed login per attempt.


def test_a_wrong_password_costs_one_failed_login_per_delivery_attempt(app, api, mta):
    configure(api, mta, "submission", authentication_password="not the password")
    notification_id = notify(api, [CAROL])
    deliver(app)

    assert notification(api, notification_id)["last_error"].startswith("535 ")
    failed_logins = failed_logins_of_ended_sessions(mta, 1)
    assert len(failed_logins) == 1, failed_logins
    mta.wait_for_log("Password mismatch", log="dovecot")
    assert mta.dovecot_log().count("Password mismatch") == 1


def test_each_test_mail_with_a_wrong_password_reports_the_535_after_one_failed_login(admin_client, mta):
    wrong = settings_form(mta, "submission", authentication_password="not the password")
    for attempt in (1, 2):  # an admin who tries again
        status, html = send_test_mail(admin_client, wrong)
        assert status == 200
        assert "failed at <strong>AUTH</strong> (server code 535)" in outcome_of(html), outcome_of(html)
        assert "The server rejected the user name or password." in hint_of(html)
        failed_logins = failed_logins_of_ended_sessions(mta, attempt)
        assert len(failed_logins) == attempt, failed_logins


def failed_logins_of_ended_sessions(mta, sessions: int) -> list[str]:
    """The failed logins Postfix logged, once it has logged the end of that many sessions: its log
    lines arrive through its log service, after the client has had its answer."""
    mta.wait_for_log(r"smtpd\[\d+\]: disconnect from ", count=sessions)
    return re.findall(FAILED_LOGIN, mta.postfix_log())


# Issue 17 bug 3: hints for Postfix's refusals.


def test_a_server_that_wants_starttls_first_gets_the_hint_to_choose_starttls(admin_client, mta):
    status, html = send_test_mail(
        admin_client, settings_form(mta, "submission", encryption="none", auth=False)
    )
    assert status == 200
    assert "530 5.7.0 Must issue a STARTTLS command first" in outcome_of(html)
    hint = hint_of(html)
    assert "STARTTLS" in hint, hint
    assert "requires authentication" not in hint
    assert mta.delivered() == []


def test_a_relay_refusal_without_auth_gets_the_hint_that_the_server_wants_authentication(admin_client, mta):
    form = settings_form(mta, "submission", auth=False, test_recipient="carol@elsewhere.example")
    status, html = send_test_mail(admin_client, form)
    assert status == 200
    assert "554 5.7.1 &lt;carol@elsewhere.example&gt;: Relay access denied" in outcome_of(html)
    assert "authentication" in hint_of(html).lower(), hint_of(html)


# Issue 17 bug 4: non-ASCII addresses.


# Non-ASCII before the @ is refused where it is typed (docs/api.md says why); an internationalized
# domain is taken in its ASCII (punycode) form, which every server on the way can carry.
ASCII_ONLY = "Use only ASCII letters, digits and symbols before the @"


def test_a_non_ascii_from_address_is_refused_when_saved_and_when_tested(api, admin_client, mta):
    response = api.post(SETTINGS, json=exastro_settings(mta, "plain", send_from="通知@example.com"))
    assert response.status_code == 400
    assert ASCII_ONLY in response.json["errors"]["send_from"]
    assert api.get(SETTINGS).json["data"] == {}  # nothing saved

    form = settings_form(mta, "plain", send_from="通知@example.com")
    page = admin_client.post(SETTINGS_URL, data=form).get_data(as_text=True)
    assert re.search(rf'id="send_from-error"[^>]*>\s*{ASCII_ONLY}', page), page
    status, html = send_test_mail(admin_client, form)
    assert status == 422
    assert f'<a href="#send_from">Source mail address (From)</a>: {ASCII_ONLY}' in html
    mta.wait_until_idle()
    assert mta.delivered() == []


@pytest.mark.parametrize("field", ["to", "cc", "bcc"])
def test_a_non_ascii_recipient_is_refused_up_front_naming_the_field(app, api, mta, field):
    configure(api, mta, "plain")
    lists = {"to": [CAROL], "cc": [], "bcc": [], field: [DAVE, "運用@example.net"]}
    response = api.post(NOTIFICATIONS, json={**lists, **ALERT})
    assert response.status_code == 400
    assert ASCII_ONLY in response.json["errors"][f"{field}[1]"]
    assert OutboxMessage.select().count() == 0


def test_an_internationalized_domain_goes_out_in_its_ascii_form(app, api, mta):
    configure(api, mta, "plain", reply_to="support@サポート.example", envelope_from="bounces@メール.example")
    assert api.get(SETTINGS).json["data"]["reply_to"] == "support@xn--vckvb6c8f.example"
    notify(api, [CAROL])
    deliver(app)

    [delivered] = mta.wait_for(1)
    assert delivered.message["Return-Path"] == "<bounces@xn--4dkua4c.example>"
    assert delivered.message["Reply-To"].addresses[0].addr_spec == "support@xn--vckvb6c8f.example"
    assert " with ESMTP id " in delivered.headers("Received")[0]  # no SMTPUTF8 needed


# Issue 17 bug 5: the test mail is the real mail.


def send_both(client, api, app, mta, **form_changes) -> tuple:
    """A test mail and a notification with the same settings; what arrived of each."""
    form = settings_form(mta, "plain", **form_changes)
    assert client.post(SETTINGS_URL, data=form).status_code == 303
    status, html = send_test_mail(client, form)
    assert "accepted" in outcome_of(html), html
    [test_mail] = mta.wait_for(1)
    notify(api, [DAVE])
    deliver(app)
    [real_mail] = mta.wait_for(1, DAVE)
    return test_mail, real_mail


def test_the_test_mail_and_the_real_mail_greet_the_server_with_the_same_name(app, api, admin_client, mta):
    test_mail, real_mail = send_both(admin_client, api, app, mta)
    assert ehlo_name(test_mail) == ehlo_name(real_mail)


def test_the_name_given_in_ehlo_is_configurable(tmp_path, monkeypatch, mta):
    monkeypatch.setenv("EXASTRO_MAIL_SMTP_EHLO_NAME", "mailer.acme.example")
    app = mta_app(tmp_path, SMTP_CA_FILE=mta.ca_file)
    with app.app_context():
        admin = make_user(make_org(), "admin", admin=True)
        client = app.test_client()
        AuthActions(client).login()
        _token, secret = issue_token(admin.organization, admin, "tests")
        test_mail, real_mail = send_both(client, ApiClient(client, bearer(secret)), app, mta)
    assert (ehlo_name(test_mail), ehlo_name(real_mail)) == ("mailer.acme.example", "mailer.acme.example")


def test_without_a_display_name_the_test_mail_and_the_real_mail_come_from_the_organization(
    app, api, admin_client, mta
):
    test_mail, real_mail = send_both(admin_client, api, app, mta, send_name="")
    assert real_mail.message["From"] == "ACME Corp <noreply@example.com>"
    assert test_mail.message["From"] == real_mail.message["From"]


# Issue 17 bug 6: small things.


@pytest.mark.parametrize(
    "settings",
    [
        pytest.param({"authentication_password": "not the password"}, id="password refused"),
        pytest.param({"start_tls_enable": False}, id="no AUTH offered without TLS"),
    ],
)
def test_after_a_failure_the_client_says_quit(app, api, mta, settings):
    configure(api, mta, "submission", **settings)
    notification_id = notify(api, [CAROL])
    deliver(app)
    assert notification(api, notification_id)["status"] == "failed"
    disconnect = mta.wait_for_log(r"postfix/submission/smtpd\[\d+\]: disconnect from .*$").group(0)
    assert "lost connection" not in mta.postfix_log(), mta.postfix_log()
    assert " quit=1 " in disconnect, disconnect


def test_a_mail_sent_on_retry_no_longer_shows_the_old_refusal(app, api, mta):
    mta.refuse_recipient(BUSY, MAILBOX_BUSY)
    configure(api, mta, "plain")
    notification_id = notify(api, [BUSY])
    deliver(app)
    assert "450 4.2.0" in notification(api, notification_id)["last_error"]

    mta.accept_recipient(BUSY)
    deliver_until(app, lambda: notification(api, notification_id)["status"] == "sent")
    mta.wait_for(1, BUSY)
    data = notification(api, notification_id)
    assert "450" not in (data["last_error"] or ""), data


# Issue 12 finding 1: header injection through encoded words.


def test_an_encoded_line_break_in_a_title_adds_no_header(app, api, mta):
    configure(api, mta, "plain")
    response = api.post(
        NOTIFICATIONS, json={"to": [CAROL], **ALERT, "title": "=?utf-8?q?Hi=0D=0AX-Injected:_yes?="}
    )
    if response.status_code == 400:  # refused up front
        assert "title" in response.json["errors"]
        return
    assert response.status_code == 202
    deliver(app)
    [delivered] = mta.wait_for(1)
    assert "X-Injected" not in delivered.header_names(), delivered.header_block.decode(errors="replace")
    assert not re.search(rb"^X-Injected:", delivered.raw, re.M | re.I)
