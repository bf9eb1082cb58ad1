"""A user who forgot their password gets a link by mail through the org's server and sets a new one."""

import json
import logging
import re
from datetime import timedelta

import pytest

from exastro_mail.auth.passwords import verify_password
from exastro_mail.mailserver.store import delete_settings
from exastro_mail.outbox import status
from exastro_mail.password_reset.tokens import token_hash
from exastro_mail.store.models import AuditEvent, LoginSession, OutboxMessage, ResetToken, User, utcnow
from tests.conftest import (
    DEFAULT_PASSWORD,
    AuthActions,
    build_app,
    csrf_token_from,
    make_org,
    make_user,
    without_csrf_tokens,
)
from tests.outbox_helpers import deliver, everything_stored, link_in, point_settings_at

ANSWER = "If an account matches, we have sent a link to its email address."
INVALID = "This link is invalid or has expired"
NEW_PASSWORD = "a brand new passphrase"


@pytest.fixture
def client(mail_app):
    return mail_app.test_client()


@pytest.fixture
def server(smtp_server, acme, mail_app):
    point_settings_at(mail_app, acme, smtp_server)
    return smtp_server


def ask(client, identifier, org_id="acme", **kwargs):
    kwargs.setdefault("data", {"identifier": identifier})
    return client.post(f"/{org_id}/forgot-password", **kwargs)


def reset_mail_link(mail_app, server, count=1):
    deliver(mail_app)
    return link_in(server.wait_for(count)[-1])


def open_link(client, match):
    return client.get(f"/{match['org']}/reset-password/{match['token']}")


def test_forgot_password_is_404_while_the_org_has_no_settings(client, acme):
    assert client.get("/acme/forgot-password").status_code == 404
    assert ask(client, "alice").status_code == 404
    assert client.get("/nobody/forgot-password").status_code == 404


def test_forgot_password_page_asks_for_username_or_email(client, server):
    html = client.get("/acme/forgot-password").get_data(as_text=True)
    form = re.search(r'<form method="post" action="/acme/forgot-password".*?</form>', html, re.S).group(0)
    assert ">Username or email address<" in form
    assert re.findall(r"<input[^>]*>", form) == [
        re.search(r'<input[^>]*id="identifier"[^>]*>', form).group(0)
    ]


def test_every_identifier_gets_the_same_answer_and_no_smtp_during_the_request(
    client, mail_app, server, acme, alice
):
    make_user(acme, "dora", email="dora@example.com")
    User.update(is_enabled=False).where(User.username == "dora").execute()
    answers = [ask(client, who) for who in ("alice", "nobody-here", "dora", "alice@example.com")]
    assert {response.status_code for response in answers} == {200}
    bodies = {without_csrf_tokens(response.get_data(as_text=True)) for response in answers}
    assert len(bodies) == 1
    assert ANSWER in bodies.pop()
    assert server.connections == 0  # the request only queued; the worker talks SMTP
    queued = list(OutboxMessage.select())
    assert len(queued) == 4 and {row.status for row in queued} == {status.QUEUED}
    assert {row.recipients for row in queued} == {'{"to": [], "cc": [], "bcc": []}'}  # not looked up yet
    deliver(mail_app)
    assert [mail.recipients for mail in server.wait_for(2)] == [["alice@example.com"]] * 2
    assert OutboxMessage.select().count() == 2  # the requests that named nobody it may mail are gone


def test_the_mail_goes_to_the_stored_address_with_text_and_html(client, mail_app, server, alice):
    ask(client, "ALICE@Example.COM")
    deliver(mail_app)
    received = server.wait_for(1)[0]
    assert received.recipients == ["alice@example.com"]
    message = received.message
    assert message["Subject"] == "Reset your password for ACME Corp"
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    link = link_in(received).group(0)
    assert "ACME Corp" in text and link in text
    assert f'href="{link}"' in html and "ACME Corp" in html
    assert "30 minutes" in text


def test_a_look_alike_address_reaches_nobody(client, mail_app, server, acme):
    make_user(acme, "mike", email="mike@example.com")
    for look_alike in ("mıke@example.com", "MİKE@example.com", "ｍｉｋｅ@example.com", "mike@example.com "):
        assert ask(client, look_alike).status_code == 200
    deliver(mail_app)
    assert [mail.recipients for mail in server.wait_for(1)] == [["mike@example.com"]]
    assert [json.loads(row.recipients)["to"] for row in OutboxMessage.select()] == [["mike@example.com"]]


def test_accounts_sharing_an_address_each_get_their_own_link(client, mail_app, server, acme, alice):
    make_user(acme, "alice-admin", email="alice@example.com", admin=True)
    ask(client, "Alice@example.com")
    assert deliver(mail_app) == 1  # the request: it becomes the first mail and queues the second
    assert deliver(mail_app) == 1
    received = server.wait_for(2)
    assert [mail.recipients for mail in received] == [["alice@example.com"]] * 2
    owners = set()
    for mail in received:
        token = ResetToken.get(ResetToken.token_hash == token_hash(link_in(mail)["token"]))
        owners.add(token.user.username)
    assert owners == {"alice", "alice-admin"}
    assert len({mail.message["Message-ID"] for mail in received}) == 2


def test_the_link_uses_the_configured_base_url_never_the_request_host(client, mail_app, server, alice):
    ask(client, "alice", headers={"Host": "evil.example", "X-Forwarded-Host": "evil.example"})
    match = reset_mail_link(mail_app, server)
    assert match.group(0).startswith("http://mail.example.test/acme/reset-password/")
    assert "evil" not in server.messages[0].raw.decode()


def test_without_a_base_url_reset_is_unavailable_and_queues_nothing(tmp_path, smtp_server):
    app = build_app(tmp_path, BASE_URL=None)
    with app.app_context():
        organization = make_org()
        make_user(organization, "alice")
        point_settings_at(app, organization, smtp_server)
        client = app.test_client()
        for response in (client.get("/acme/forgot-password"), ask(client, "alice")):
            page = response.get_data(as_text=True)
            assert "Password reset by mail is unavailable" in page
            assert "EXASTRO_MAIL_BASE_URL" in page
            assert "<form" not in page.split("<main>")[1]
        assert OutboxMessage.select().count() == 0


def test_the_whole_reset(client, mail_app, server, acme, alice):
    ask(client, "alice")
    match = reset_mail_link(mail_app, server)

    response = open_link(client, match)
    assert response.status_code == 303
    assert response.headers["Location"] == "/acme/reset-password"
    page = client.get("/acme/reset-password")
    assert page.status_code == 200
    assert match["token"] not in page.get_data(as_text=True)
    for response in (open_link(client, match), page):
        assert response.headers["Referrer-Policy"] == "no-referrer"
        assert response.headers["Cache-Control"] == "no-store"
    assert client.get("/acme/login").headers["Referrer-Policy"] == "same-origin"
    assert "Cache-Control" not in client.get("/acme/forgot-password").headers

    done = client.post("/acme/reset-password", data={"password": NEW_PASSWORD, "confirmation": NEW_PASSWORD})
    assert done.status_code == 303
    assert done.headers["Location"] == "/acme/login"
    assert "Your password has been changed" in client.get("/acme/login").get_data(as_text=True)
    assert client.get("/acme/platform/").status_code == 302  # not logged in automatically

    auth = AuthActions(client)
    assert auth.login("alice", DEFAULT_PASSWORD).status_code == 200  # the old one is refused
    assert auth.login("alice", NEW_PASSWORD).status_code == 302

    deliver(mail_app)
    notice = server.wait_for(2)[1]
    assert notice.recipients == ["alice@example.com"]
    assert notice.message["Subject"] == "Your password for ACME Corp was changed"
    assert "contact your organization administrator" in notice.message.get_body(("plain",)).get_content()
    actions = [(event.action, event.actor) for event in AuditEvent.select().order_by(AuditEvent.id)]
    assert ("password_reset.completed", "alice") in actions


@pytest.mark.parametrize(
    ("password", "confirmation", "message"),
    [
        ("short", "short", "Use at least 10 characters."),
        ("ALICE.SMITH", "ALICE.SMITH", "The password must not be your username."),
        ("", "", "Enter a new password."),
        (NEW_PASSWORD, NEW_PASSWORD + "!", "The two passwords do not match."),
    ],
)
def test_a_weak_or_mismatched_password_is_refused_next_to_its_field(
    client, mail_app, server, acme, password, confirmation, message
):
    user = make_user(acme, "alice.smith", email="alice@example.com")
    ask(client, "alice.smith")
    open_link(client, reset_mail_link(mail_app, server))
    response = client.post("/acme/reset-password", data={"password": password, "confirmation": confirmation})
    assert response.status_code == 422
    assert (
        f'<p class="error" id="{"confirmation" if "match" in message else "password"}-error">{message}</p>'
        in (response.get_data(as_text=True))
    )
    assert User.get_by_id(user.id).password_hash == user.password_hash
    assert client.get("/acme/reset-password").status_code == 200  # the link still works for another try


def test_a_link_works_only_once(client, mail_app, server, alice):
    ask(client, "alice")
    match = reset_mail_link(mail_app, server)
    open_link(client, match)
    client.post("/acme/reset-password", data={"password": NEW_PASSWORD, "confirmation": NEW_PASSWORD})
    again = open_link(client, match)
    assert again.status_code == 404
    assert INVALID in again.get_data(as_text=True)
    assert client.get("/acme/reset-password").status_code == 404


@pytest.mark.parametrize(
    "mangle",
    [
        lambda token: token[:-1] + ("A" if token[-1] != "A" else "B"),  # altered
        lambda token: token[:20],  # truncated
        lambda token: "x" * 43,  # unknown
        lambda token: token + "%00",
        lambda token: token + "é" * 5,
        lambda token: "a" * 5000,
    ],
)
def test_a_bad_link_says_invalid_and_changes_nothing(client, mail_app, server, alice, mangle):
    ask(client, "alice")
    match = reset_mail_link(mail_app, server)
    before = User.get_by_id(alice.id).password_hash
    response = client.get(f"/acme/reset-password/{mangle(match['token'])}")
    assert response.status_code == 404
    assert INVALID in response.get_data(as_text=True)
    posted = client.post(
        "/acme/reset-password", data={"password": NEW_PASSWORD, "confirmation": NEW_PASSWORD}
    )
    assert posted.status_code == 404
    assert User.get_by_id(alice.id).password_hash == before


def test_another_orgs_link_is_invalid(client, mail_app, server, alice):
    other = make_org("globex", "Globex")
    point_settings_at(mail_app, other, server)
    ask(client, "alice")
    match = reset_mail_link(mail_app, server)
    response = client.get(f"/globex/reset-password/{match['token']}")
    assert response.status_code == 404
    assert INVALID in response.get_data(as_text=True)
    open_link(client, match)
    assert client.get("/globex/reset-password").status_code == 404  # the held link stays with acme
    assert client.get("/acme/reset-password").status_code == 200


def test_an_expired_link_is_invalid(client, mail_app, server, alice):
    ask(client, "alice")
    match = reset_mail_link(mail_app, server)
    token = ResetToken.get()
    ResetToken.update(
        created_at=token.created_at.replace(year=2020), expires_at=token.expires_at.replace(year=2020)
    ).execute()
    User.update(password_changed_at=token.created_at.replace(year=2019)).execute()
    response = open_link(client, match)
    assert response.status_code == 404
    assert INVALID in response.get_data(as_text=True)


def test_a_link_dies_when_the_email_or_password_changes(client, mail_app, server, alice):
    ask(client, "alice")
    first = reset_mail_link(mail_app, server, 1)
    User.update(email="alice@new.example.com").where(User.id == alice.id).execute()
    assert open_link(client, first).status_code == 404

    User.update(email="alice@example.com").where(User.id == alice.id).execute()
    ask(client, "alice")
    second = reset_mail_link(mail_app, server, 2)
    assert open_link(client, second).status_code == 303  # held in the session now
    User.update(password_changed_at=utcnow() + timedelta(seconds=1)).where(User.id == alice.id).execute()
    assert client.get("/acme/reset-password").status_code == 404


def test_the_reset_ends_every_session_of_the_user(mail_app, server, alice):
    elsewhere = mail_app.test_client()
    AuthActions(elsewhere).login("alice")
    assert elsewhere.get("/acme/platform/").status_code == 200
    here = mail_app.test_client()
    AuthActions(here).login("alice")
    ask(here, "alice")
    open_link(here, reset_mail_link(mail_app, server))
    here.post("/acme/reset-password", data={"password": NEW_PASSWORD, "confirmation": NEW_PASSWORD})
    assert elsewhere.get("/acme/platform/").status_code == 302
    assert here.get("/acme/platform/").status_code == 302
    assert LoginSession.select().where(LoginSession.user == alice).count() == 0


def test_a_reset_in_a_browser_where_someone_else_is_logged_in_ends_that_login_on_the_server(
    mail_app, server, acme, alice
):
    bob = make_user(acme, "bob", email="bob@example.com")
    browser = mail_app.test_client()
    AuthActions(browser).login("bob")
    thief = mail_app.test_client()
    thief.set_cookie("session", browser.get_cookie("session").value)  # bob's cookie, copied
    assert thief.get("/acme/platform/").status_code == 200
    ask(browser, "alice")
    open_link(browser, reset_mail_link(mail_app, server))
    browser.post("/acme/reset-password", data={"password": NEW_PASSWORD, "confirmation": NEW_PASSWORD})
    assert browser.get("/acme/platform/").status_code == 302
    assert thief.get("/acme/platform/").status_code == 302
    assert LoginSession.select().where(LoginSession.user == bob).count() == 0


def test_past_the_account_limit_the_answer_is_the_same_and_no_mail_is_sent(client, mail_app, server, alice):
    # The same page but for its CSRF token, which is signed with the second it was made in.
    answers = {without_csrf_tokens(ask(client, "alice").get_data(as_text=True)) for _ in range(5)}
    assert len(answers) == 1
    deliver(mail_app)
    assert len(server.wait_for(3)) == 3  # RESET_LIMIT_PER_ACCOUNT: 3 per 15 minutes
    assert OutboxMessage.select().count() == 3 and ResetToken.select().count() == 3
    details = [
        json.loads(event.detail)
        for event in AuditEvent.select().where(AuditEvent.action == "password_reset.resolved")
    ]
    assert [detail["mail"] for detail in details] == ["queued"] * 3 + ["not sent: rate limit"] * 2
    assert {detail["user"] for detail in details} == {"alice"}


def test_the_account_limit_counts_links_of_the_window_only(client, mail_app, server, alice):
    for _ in range(3):
        ask(client, "alice")
    deliver(mail_app)
    ResetToken.update(created_at=utcnow() - timedelta(minutes=16)).execute()  # out of the 15 minutes
    ask(client, "alice")
    deliver(mail_app)
    assert len(server.wait_for(4)) == 4


def test_past_the_client_limit_a_friendly_429(client, server, alice):
    for _ in range(10):  # RESET_LIMIT_PER_CLIENT: 10 per 5 minutes
        assert ask(client, "nobody").status_code == 200
    response = ask(client, "nobody")
    assert response.status_code == 429
    assert "Too many requests" in response.get_data(as_text=True)
    assert 1 <= int(response.headers["Retry-After"]) <= 300  # until the 5 minutes' window ends
    assert client.get("/acme/forgot-password").status_code == 200  # looking is not limited


def test_the_database_never_holds_a_usable_token_or_the_typed_text(client, mail_app, server, alice, tmp_path):
    ask(client, "alice@example.com")
    queued = OutboxMessage.get()
    assert queued.body_text is None and queued.body_html is None
    assert "alice@example.com" not in queued.reset_request  # sealed until the worker looks it up
    match = reset_mail_link(mail_app, server)
    stored = everything_stored(mail_app, tmp_path)
    assert match["token"].encode() not in stored
    assert ResetToken.get().token_hash == token_hash(match["token"])
    sent = OutboxMessage.get_by_id(queued.id)
    assert (sent.status, sent.body_text, sent.body_html) == (status.SENT, None, None)
    assert sent.reset_request is None
    assert json.loads(sent.recipients)["to"] == ["alice@example.com"] and sent.sent_at is not None
    assert match["token"] not in "".join(event.detail or "" for event in AuditEvent.select())


def test_a_request_for_an_unknown_account_keeps_no_typed_text(client, mail_app, server, tmp_path):
    ask(client, "my-secret-password-typed-here")
    deliver(mail_app)
    assert server.connections == 0  # nothing to send
    assert OutboxMessage.select().count() == 0
    events = {event.action: event for event in AuditEvent.select()}
    assert events["password_reset.requested"].detail is None
    assert events["password_reset.requested"].remote_addr == "127.0.0.1"
    assert json.loads(events["password_reset.resolved"].detail) == {"account": "unknown"}
    # Only ever written sealed, so not even a deleted page of the SQLite file holds it in the clear.
    assert b"my-secret" not in everything_stored(mail_app, tmp_path)


def test_a_request_left_when_the_settings_are_deleted_fails_and_forgets_the_typed_text(
    client, mail_app, server, acme, alice
):
    ask(client, "alice")
    delete_settings(acme, actor="admin")
    deliver(mail_app)
    row = OutboxMessage.get()
    assert (row.status, row.reset_request, row.last_error) == (
        status.FAILED,
        None,
        "no mail sending server configured",
    )
    assert server.connections == 0 and ResetToken.select().count() == 0


def test_with_csrf_on_the_forms_need_their_token_and_https_without_referer_works(tmp_path, smtp_server):
    app = build_app(tmp_path, WTF_CSRF_ENABLED=True)
    with app.app_context():
        organization = make_org()
        user = make_user(organization, "alice")
        point_settings_at(app, organization, smtp_server)
    # Requests run outside the test's app context, so each gets its own `g` as in production.
    client = app.test_client()
    assert ask(client, "alice").status_code == 400
    token = csrf_token_from(client.get("/acme/forgot-password").get_data(as_text=True))
    assert ask(client, "alice", data={"identifier": "alice", "csrf_token": token}).status_code == 200
    deliver(app)
    match = link_in(smtp_server.wait_for(1)[0])

    https = app.test_client()
    https.get(f"/acme/reset-password/{match['token']}", base_url="https://localhost")
    page = https.get("/acme/reset-password", base_url="https://localhost")
    form = {"password": NEW_PASSWORD, "confirmation": NEW_PASSWORD}
    refused = https.post("/acme/reset-password", data=form, base_url="https://localhost")
    assert refused.status_code == 400
    assert "The form has expired" in refused.get_data(as_text=True)
    form["csrf_token"] = "forged" + csrf_token_from(page.get_data(as_text=True))[6:]
    assert https.post("/acme/reset-password", data=form, base_url="https://localhost").status_code == 400
    with app.app_context():
        assert User.get_by_id(user.id).password_hash == user.password_hash
    form["csrf_token"] = csrf_token_from(page.get_data(as_text=True))
    # Under Referrer-Policy: no-referrer the browser sends no Referer, even over HTTPS.
    done = https.post("/acme/reset-password", data=form, base_url="https://localhost")
    assert done.status_code == 303
    with app.app_context():
        assert verify_password(User.get_by_id(user.id).password_hash, NEW_PASSWORD)


def test_the_request_does_the_same_work_whether_or_not_an_account_matches(client, server, caplog):
    statements = {}
    for identifier in ("alice", "nobody", "alice@example.com", "nobody@example.com"):
        caplog.clear()
        with caplog.at_level(logging.DEBUG, logger="peewee"):
            assert ask(client, identifier).status_code == 200
        statements[identifier] = [record.msg[0] for record in caplog.records if record.name == "peewee"]
    assert len({tuple(sql) for sql in statements.values()}) == 1, statements
    sql = statements["alice"]
    assert any(re.match(r"INSERT INTO [`\"]outbox_message[`\"]", statement) for statement in sql), sql
    assert not any(re.search(r"[`\"]user[`\"]", statement) for statement in sql), sql  # no account read


@pytest.mark.parametrize(
    ("typed", "message"),
    [("", "Enter your username or email address."), ("x" * 256, "Use at most 255 characters.")],
)
def test_an_empty_or_overlong_identifier_gets_a_message_next_to_the_field(client, server, typed, message):
    response = ask(client, typed)
    assert response.status_code == 422
    assert f'<p class="error" id="identifier-error">{message}</p>' in response.get_data(as_text=True)
    assert OutboxMessage.select().count() == 0


def test_a_reset_asked_for_in_japanese_is_mailed_in_japanese_unless_the_account_chose_a_language(
    client, mail_app, server, acme, alice
):
    japanese = {"Accept-Language": "ja"}
    ask(client, "alice", headers=japanese)
    match = reset_mail_link(mail_app, server)
    assert server.messages[0].message["Subject"] == "ACME Corp のパスワード再設定"
    # The notice of the change follows the page the new password was chosen on, the same way.
    open_link(client, match)
    data = {"password": NEW_PASSWORD, "confirmation": NEW_PASSWORD}
    assert client.post("/acme/reset-password", data=data, headers=japanese).status_code == 303
    deliver(mail_app)
    assert server.wait_for(2)[1].message["Subject"] == "ACME Corp のパスワードが変更されました"

    with mail_app.app_context():
        User.update(locale="en").where(User.username == "alice").execute()
    ask(client, "alice", headers=japanese)
    deliver(mail_app)
    assert server.wait_for(3)[2].message["Subject"] == "Reset your password for ACME Corp"
