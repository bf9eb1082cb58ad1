"""A user looks after their own account: changes the password while logged in, chooses language and time
zone; the administrator quickstart made chooses their own password at the first login."""

import json
import re

import pytest

from exastro_mail.api_tokens.tokens import issue_token
from exastro_mail.auth.initial_password import initial_password_path, write_initial_password
from exastro_mail.auth.passwords import verify_password
from exastro_mail.cli import _admin_password_lines
from exastro_mail.logs.audit_trail import describe
from exastro_mail.outbox.enqueue import open_body
from exastro_mail.store.models import AuditEvent, LoginSession, Organization, OutboxMessage, User
from tests.conftest import DEFAULT_PASSWORD, AuthActions, build_app, make_org, make_user
from tests.outbox_helpers import deliver, link_in, point_settings_at

ACCOUNT = "/acme/platform/account"
CHANGE = ACCOUNT + "/password"
NEW_PASSWORD = "my very own passphrase"


def change(client, current=DEFAULT_PASSWORD, new=NEW_PASSWORD, again=None, **extra):
    data = {"current_password": current, "password": new, "confirmation": new if again is None else again}
    return client.post(CHANGE, data={**data, **extra})


def error_of(html: str, field: str) -> str | None:
    match = re.search(rf'<p class="error" id="{field}-error">([^<]*)</p>', html)
    return match.group(1) if match else None


@pytest.fixture
def alice_client(mail_app, alice):
    client = mail_app.test_client()
    AuthActions(client).login("alice")
    return client


def test_every_page_links_to_the_account_page(client, plain_user, auth):
    auth.login("bob")
    menu = client.get("/acme/platform/").get_data(as_text=True)
    assert f'<a href="{ACCOUNT}">Account</a>' in menu
    page = client.get(ACCOUNT).get_data(as_text=True)
    assert "<h1>Account</h1>" in page and "bob@example.com" in page
    assert [name for name in ("current_password", "password", "confirmation") if f'id="{name}"' in page]


def test_a_user_changes_their_password_and_only_this_browser_stays_logged_in(mail_app, alice, alice_client):
    elsewhere = mail_app.test_client()
    AuthActions(elsewhere).login("alice")
    response = change(alice_client)
    assert response.status_code == 303 and response.headers["Location"] == ACCOUNT
    page = alice_client.get(ACCOUNT).get_data(as_text=True)
    assert "Your password has been changed. Every other login of your account has ended." in page
    assert elsewhere.get("/acme/platform/").status_code == 302  # that login ended
    assert LoginSession.select().where(LoginSession.user == alice).count() == 1
    assert verify_password(User.get_by_id(alice.id).password_hash, NEW_PASSWORD)
    fresh = mail_app.test_client()
    assert AuthActions(fresh).login("alice", DEFAULT_PASSWORD).status_code == 200  # refused
    assert AuthActions(fresh).login("alice", NEW_PASSWORD).status_code == 302


def test_the_change_is_in_the_audit_log_in_words_and_without_the_password(alice_client):
    change(alice_client)
    event = AuditEvent.get(AuditEvent.action == "account.password_changed")
    assert event.actor == "alice" and event.detail is None
    assert describe(event).label == "Password changed on the account page"
    everything = json.dumps([list(row) for row in AuditEvent.select().tuples()], default=str)
    assert NEW_PASSWORD not in everything and DEFAULT_PASSWORD not in everything


def test_the_password_changed_notice_is_mailed_while_mail_settings_exist(
    mail_app, acme, alice_client, smtp_server
):
    point_settings_at(mail_app, acme, smtp_server)
    change(alice_client)
    deliver(mail_app)
    [received] = smtp_server.wait_for(1)
    assert received.recipients == ["alice@example.com"]
    assert received.message["Subject"] == "Your password for ACME Corp was changed"
    text = received.message.get_body(("plain",)).get_content()
    assert "on its account page, while logged in" in text and "reset link" not in text
    assert "replies go to support@example.com" in text and "may not be read" not in text
    assert NEW_PASSWORD not in received.message.as_string()


def test_without_mail_settings_the_change_works_and_no_mail_is_queued(alice_client):
    assert change(alice_client).status_code == 303
    assert OutboxMessage.select().count() == 0


@pytest.mark.parametrize(
    ("typed", "field", "message"),
    [
        ({"current": ""}, "current_password", "Enter your current password."),
        ({"current": "not my password"}, "current_password", "The current password is incorrect."),
        ({"new": "short"}, "password", "Use at least 10 characters."),
        ({"new": "alice"}, "password", "Use at least 10 characters."),
        ({"new": "Alice     "}, "password", "The password must not be your username."),
        ({"new": ""}, "password", "Enter a new password."),
        ({"again": "something else"}, "confirmation", "The two passwords do not match."),
        ({"new": DEFAULT_PASSWORD}, "password", "Choose a password different from the current one."),
    ],
)
def test_a_wrong_entry_is_refused_next_to_its_field_and_nothing_changes(
    alice_client, alice, typed, field, message
):
    response = change(alice_client, **typed)
    assert response.status_code == 422
    assert error_of(response.get_data(as_text=True), field) == message
    assert verify_password(User.get_by_id(alice.id).password_hash, DEFAULT_PASSWORD)
    assert alice_client.get("/acme/platform/").status_code == 200  # still logged in


def test_guessing_the_current_password_counts_as_failed_logins(tmp_path):
    app = build_app(tmp_path, LOGIN_LIMIT_PER_CLIENT="3 per 5 minutes")
    with app.app_context():
        make_user(make_org(), "alice")
    client = app.test_client()
    AuthActions(client).login("alice")  # one
    assert change(client, current="guess number one").status_code == 422  # two
    assert change(client, current="guess number two").status_code == 422  # three
    assert change(client, current=DEFAULT_PASSWORD).status_code == 429


def test_the_language_and_time_zone_are_saved_and_times_follow_the_zone(client, admin, auth):
    issue_token(admin.organization, admin, "backup job")
    auth.login()
    response = client.post(ACCOUNT + "/preferences", data={"locale": "ja", "time_zone": "Asia/Tokyo"})
    assert response.status_code == 303
    user = User.get_by_id(admin.id)
    assert (user.locale, user.time_zone) == ("ja", "Asia/Tokyo")
    page = client.get(ACCOUNT).get_data(as_text=True)
    assert '<html lang="ja">' in page and "言語とタイムゾーンを保存しました。" in page
    assert '<option selected value="Asia/Tokyo">' in page
    tokens = client.get("/acme/platform/api-tokens").get_data(as_text=True)
    assert re.search(r'<time datetime="[^"]+Z">[^<]+ JST</time>', tokens)

    client.set_cookie("timezone", "Europe/Paris")  # the account's choice comes before the browser's
    assert " JST</time>" in client.get("/acme/platform/api-tokens").get_data(as_text=True)
    client.post(ACCOUNT + "/preferences", data={"locale": "en", "time_zone": ""})  # the browser's again
    tokens = client.get("/acme/platform/api-tokens").get_data(as_text=True)
    assert re.search(r"<time [^>]+>[^<]+ (CET|CEST|GMT\+1|GMT\+2|\+0[12]00)</time>", tokens)
    assert "This browser&#39;s time zone (Europe/Paris)" in client.get(ACCOUNT).get_data(as_text=True)


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"locale": "fr", "time_zone": ""}, "locale"),
        ({"locale": "en", "time_zone": "Mars/Olympus"}, "time_zone"),
    ],
)
def test_a_language_or_zone_not_on_the_list_is_refused_next_to_the_field(client, admin, auth, data, field):
    auth.login()
    response = client.post(ACCOUNT + "/preferences", data=data)
    assert response.status_code == 422
    assert error_of(response.get_data(as_text=True), field).startswith("Choose a ")
    assert User.get_by_id(admin.id).time_zone is None


def test_the_account_page_is_only_for_logged_in_members(client, org, auth):
    response = client.get(ACCOUNT)
    assert response.status_code == 302 and response.headers["Location"] == f"/acme/login?next={ACCOUNT}"
    assert client.post(CHANGE, data={}).status_code == 302
    make_user(make_org("globex", "Globex"), "hank")
    AuthActions(client).login("hank", org_id="globex")
    assert client.get(ACCOUNT).status_code == 404


# The forced change at the first login


@pytest.fixture
def generated(org):
    """An administrator whose password was generated for them, as quickstart makes one."""
    user = make_user(org, "admin", admin=True)
    User.update(must_change_password=True).where(User.id == user.id).execute()
    return user


def test_the_first_login_with_a_generated_password_asks_for_an_own_one(client, generated):
    response = client.post(
        "/acme/login",
        data={"username": "admin", "password": DEFAULT_PASSWORD, "next": "/acme/platform/api-tokens"},
    )
    assert response.status_code == 303
    assert response.headers["Location"] == f"{CHANGE}?next=/acme/platform/api-tokens"
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "<h1>Choose your own password</h1>" in page
    assert 'name="next" type="hidden" value="/acme/platform/api-tokens"' in page

    for path in ("/acme/platform/", "/acme/platform/settings/mailserver", ACCOUNT):
        elsewhere = client.get(path)
        assert elsewhere.status_code == 303 and elsewhere.headers["Location"] == f"{CHANGE}?next={path}"
    htmx = client.get("/acme/platform/mail-log", headers={"HX-Request": "true"})
    assert htmx.headers["HX-Redirect"] == f"{CHANGE}?next=/acme/platform/mail-log"
    assert client.post("/acme/platform/api-tokens", data={"name": "sneaky"}).status_code == 303

    done = change(client, next="/acme/platform/api-tokens")
    assert done.status_code == 303 and done.headers["Location"] == "/acme/platform/api-tokens"
    assert client.get("/acme/platform/api-tokens").status_code == 200
    assert User.get_by_id(generated.id).must_change_password is False


def test_after_the_forced_change_a_first_login_goes_on_to_the_menu_as_any_login_does(client, generated):
    # quickstart's admin logs in from the login page itself, with nowhere else asked for
    response = client.post("/acme/login", data={"username": "admin", "password": DEFAULT_PASSWORD})
    assert response.headers["Location"] == CHANGE
    assert "<h1>Choose your own password</h1>" in client.get(CHANGE).get_data(as_text=True)
    done = change(client)
    assert done.status_code == 303 and done.headers["Location"] == "/acme/platform/"
    assert "Your password has been changed." in client.get("/acme/platform/").get_data(as_text=True)


def test_a_forced_change_refuses_the_generated_password_again(client, generated, auth):
    auth.login()
    response = change(client, new=DEFAULT_PASSWORD)
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "<h1>Choose your own password</h1>" in page
    assert error_of(page, "password") == "Choose a password different from the current one."


def test_logging_out_stays_possible_before_the_change(client, generated, auth):
    auth.login()
    assert auth.logout().status_code == 303
    assert "You have logged out." in client.get("/acme/login").get_data(as_text=True)


def test_users_made_with_their_own_password_are_not_asked(app, org):
    result = app.test_cli_runner().invoke(
        args=["create-user", "acme", "carol", "--email", "carol@example.com", "--admin", "--password-stdin"],
        input=f"{DEFAULT_PASSWORD}\n",
    )
    assert result.exit_code == 0, result.output
    client = app.test_client()
    response = AuthActions(client).login("carol")
    assert response.status_code == 302 and response.headers["Location"] == "/acme/platform/"
    assert client.get("/acme/platform/").status_code == 200


def test_a_reset_link_also_counts_as_choosing_an_own_password(mail_app, acme, smtp_server):
    user = make_user(acme, "admin", admin=True)
    User.update(must_change_password=True).where(User.id == user.id).execute()
    point_settings_at(mail_app, acme, smtp_server)
    write_initial_password(mail_app.instance_path, DEFAULT_PASSWORD)
    client = mail_app.test_client()
    client.post("/acme/forgot-password", data={"identifier": "admin"})
    deliver(mail_app)
    link = link_in(smtp_server.wait_for(1)[0])
    client.get(f"/acme/reset-password/{link['token']}")
    client.post("/acme/reset-password", data={"password": NEW_PASSWORD, "confirmation": NEW_PASSWORD})
    assert User.get_by_id(user.id).must_change_password is False
    assert not initial_password_path(mail_app.instance_path).exists()
    mails = [
        open_body(row.body_text)
        for row in OutboxMessage.select().where(OutboxMessage.kind == "password_changed")
    ]
    assert len(mails) == 1 and "with a reset link" in mails[0]


# The initial password file of quickstart


def test_quickstart_makes_a_forced_admin_and_its_file_goes_once_the_password_is_changed(app):
    with app.app_context():
        organization = Organization.create(org_id="example", name="Example organization")
        lines = _admin_password_lines(app, organization)
    path = initial_password_path(app.instance_path)
    assert lines[0] == f"The initial password is in {path}"
    assert "you choose your own at the first login" in lines[1]
    assert path.stat().st_mode & 0o777 == 0o600
    password = path.read_text().strip()
    assert User.get(User.username == "admin").must_change_password is True
    with app.app_context():
        assert _admin_password_lines(app, organization) == lines  # a restart: the file still works

    client = app.test_client()
    response = AuthActions(client).login("admin", password, org_id="example")
    assert response.headers["Location"] == "/example/platform/account/password"
    client.post(
        "/example/platform/account/password",
        data={"current_password": password, "password": NEW_PASSWORD, "confirmation": NEW_PASSWORD},
    )
    assert not path.exists()
    with app.app_context():
        assert _admin_password_lines(app, organization) == [
            "Use the password you chose (the initial password file was removed when it was changed)."
        ]


def test_quickstart_removes_a_file_whose_password_no_longer_works(app):
    with app.app_context():
        organization = Organization.create(org_id="example", name="Example organization")
        make_user(organization, "admin", admin=True)  # its password is not the one in the file
        write_initial_password(app.instance_path, "an older generated one")
        lines = _admin_password_lines(app, organization)
    assert not initial_password_path(app.instance_path).exists()
    assert "initial password file was removed" in lines[0]


def test_changing_another_password_leaves_the_file_alone(alice_client, mail_app):
    write_initial_password(mail_app.instance_path, "the admin's generated one")
    change(alice_client)
    assert initial_password_path(mail_app.instance_path).exists()
