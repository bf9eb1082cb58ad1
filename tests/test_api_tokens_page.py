"""An org admin creates API tokens (each shown once), sees them listed, and revokes them."""

import json
import re
from datetime import timedelta

import pytest

from exastro_mail.api_tokens.tokens import issue_token, token_hash
from exastro_mail.store.models import ApiToken, AuditEvent, NewTokenShowing, utcnow
from tests.api_helpers import SETTINGS, bearer
from tests.conftest import AuthActions, csrf_token_from, make_org, make_user, unsealed

PAGE = "/acme/platform/api-tokens"
SECRET = re.compile(r"exm_[A-Za-z0-9_-]{43}")


@pytest.fixture
def admin_client(client, admin, auth):
    auth.login()
    return client


def create(client, name="monitoring alerts"):
    return client.post(PAGE, data={"name": name})


def test_menu_has_api_tokens_for_admins(admin_client):
    menu = admin_client.get("/acme/platform/").get_data(as_text=True)
    assert f'href="{PAGE}">API tokens</a>' in menu


def created_page(client, name="monitoring alerts"):
    """Create a token as a browser does: the POST, then the page its redirect opens."""
    response = create(client, name)
    assert response.status_code == 303
    return client.get(response.headers["Location"])


def test_new_token_is_shown_once_and_works(admin_client):
    response = created_page(admin_client)
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    page = response.get_data(as_text=True)
    assert "Copy it now: it will not be shown again." in page
    [secret] = SECRET.findall(page)
    assert admin_client.get(SETTINGS, headers=bearer(secret)).status_code == 200

    again = admin_client.get(PAGE).get_data(as_text=True)
    assert "monitoring alerts" in again
    assert secret not in again and not SECRET.search(again)
    row = ApiToken.get()
    assert row.token_hash == token_hash(secret)


def test_reloading_the_page_after_create_token_makes_no_second_token_and_shows_none(admin_client):
    response = create(admin_client)
    location = response.headers["Location"]
    assert location.startswith(f"{PAGE}?shown=") and not SECRET.search(location)
    first = admin_client.get(location).get_data(as_text=True)
    [secret] = SECRET.findall(first)
    reloaded = admin_client.get(location)
    assert reloaded.status_code == 200
    text = reloaded.get_data(as_text=True)
    assert not SECRET.search(text)
    assert "The new token was shown once and cannot be shown again." in text
    assert ApiToken.select().count() == 1
    assert NewTokenShowing.select().count() == 0  # the sealed copy is gone once shown
    assert admin_client.get(SETTINGS, headers=bearer(secret)).status_code == 200


def test_only_the_admin_who_made_a_token_sees_it_and_only_for_a_few_minutes(admin_client, org, app):
    location = create(admin_client).headers["Location"]
    other = app.test_client()
    make_user(org, "carol", admin=True)
    AuthActions(other).login("carol")
    assert not SECRET.search(other.get(location).get_data(as_text=True))
    NewTokenShowing.update(expires_at=utcnow() - timedelta(seconds=1)).execute()
    assert not SECRET.search(admin_client.get(location).get_data(as_text=True))
    assert NewTokenShowing.select().count() == 0


def test_the_token_waits_for_its_showing_sealed(admin_client, app):
    location = create(admin_client).headers["Location"]
    stored = NewTokenShowing.get()
    assert not SECRET.search(stored.token_sealed) and location.split("=")[1] not in stored.showing_hash
    [secret] = SECRET.findall(admin_client.get(location).get_data(as_text=True))
    assert unsealed(app, stored.token_sealed) == secret


@pytest.mark.parametrize("again", ["monitoring alerts", "Monitoring Alerts", "  monitoring alerts "])
def test_a_second_token_of_the_same_name_is_refused_next_to_the_field(admin_client, again):
    create(admin_client)
    response = create(admin_client, again)
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert re.search(r'<p class="error" id="name-error">A token named “[^”]+” already works', page)
    assert ApiToken.select().count() == 1


def test_a_revoked_tokens_name_can_be_used_again(admin_client, admin):
    token, _secret = issue_token(admin.organization, admin, "backup job")
    admin_client.post(f"{PAGE}/{token.id}/revoke")
    assert create(admin_client, "backup job").status_code == 303
    assert ApiToken.select().where(ApiToken.name == "backup job").count() == 2


def test_creation_is_audited_without_the_token(admin_client):
    secret = SECRET.search(created_page(admin_client).get_data(as_text=True)).group()
    event = AuditEvent.get(AuditEvent.action == "api_token.created")
    assert event.actor == "admin"
    assert json.loads(event.detail) == {"name": "monitoring alerts", "token_id": ApiToken.get().id}
    assert secret not in event.detail and token_hash(secret) not in event.detail


def test_list_shows_name_created_last_used_and_creator(admin_client, admin):
    used, secret = issue_token(admin.organization, admin, "backup job")
    unused = issue_token(admin.organization, admin, "never used")[0]
    admin_client.get(SETTINGS, headers=bearer(secret))
    page = admin_client.get(PAGE).get_data(as_text=True)
    used_row = re.search(rf'<tr id="token-{used.id}">(.*?)</tr>', page, re.S).group(1)
    cells = [re.sub(r"\s+", " ", cell).strip() for cell in re.findall(r"<td>(.*?)</td>", used_row, re.S)]
    assert cells[0] == "backup job"
    # Shown in the reader's locale and time zone (UTC without a browser's), the exact time in the attribute.
    local_time = r'<time datetime="\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ">[^<]+ UTC</time>'
    assert re.fullmatch(local_time, cells[1])
    assert re.fullmatch(local_time, cells[2])
    assert cells[3] == "admin"
    assert "Revoke" in cells[4]
    unused_row = re.search(rf'<tr id="token-{unused.id}">(.*?)</tr>', page, re.S).group(1)
    assert "<td>Never</td>" in unused_row


@pytest.mark.parametrize(
    ("name", "words"),
    [("", "Enter a name"), ("   ", "Enter a name"), ("x" * 101, "at most 100"), ("two\nlines", "one line")],
)
def test_bad_name_is_422_next_to_the_field_and_nothing_is_made(admin_client, name, words):
    response = create(admin_client, name)
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert re.search(rf'<p class="error" id="name-error">[^<]*{words}', page)
    assert ApiToken.select().count() == 0
    assert not SECRET.search(page)


def test_revoke_asks_first_and_get_changes_nothing(admin_client, admin):
    token, _secret = issue_token(admin.organization, admin, "backup job")
    page = admin_client.get(f"{PAGE}/{token.id}/revoke")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "will stop working at once" in text and "cannot be restored" in text
    assert f'action="{PAGE}/{token.id}/revoke"' in text
    assert ApiToken.get_by_id(token.id).revoked_at is None


def test_revoke_dialog_is_a_fragment_for_htmx(admin_client, admin):
    token, _secret = issue_token(admin.organization, admin, "backup job")
    response = admin_client.get(
        f"{PAGE}/{token.id}/revoke", headers={"HX-Request": "true", "HX-Target": "revoke-dialog"}
    )
    text = response.get_data(as_text=True)
    assert "<html" not in text and 'id="revoke-title"' in text
    assert "HX-Target" in response.headers["Vary"]
    listing = admin_client.get(PAGE).get_data(as_text=True)
    assert f'hx-get="{PAGE}/{token.id}/revoke" hx-target="#revoke-dialog"' in listing
    assert f'href="{PAGE}/{token.id}/revoke"' in listing


def test_revoked_token_stops_working_and_is_listed_as_revoked(admin_client, admin):
    token, secret = issue_token(admin.organization, admin, "backup job")
    response = admin_client.post(f"{PAGE}/{token.id}/revoke")
    assert response.status_code == 303
    assert response.headers["Location"] == PAGE
    assert admin_client.get(SETTINGS, headers=bearer(secret)).status_code == 401
    page = admin_client.get(PAGE).get_data(as_text=True)
    assert "The API token “backup job” has been revoked" in page
    row = re.search(rf'<tr id="token-{token.id}">(.*?)</tr>', page, re.S).group(1)
    assert "Revoked" in row and "Revoke…" not in row
    event = AuditEvent.get(AuditEvent.action == "api_token.revoked")
    assert json.loads(event.detail) == {"name": "backup job", "token_id": token.id}
    admin_client.post(f"{PAGE}/{token.id}/revoke")  # twice: nothing more happens
    assert AuditEvent.select().where(AuditEvent.action == "api_token.revoked").count() == 1


def test_plain_user_gets_403(client, plain_user, admin, auth):
    token, _secret = issue_token(admin.organization, admin, "backup job")
    auth.login("bob")
    assert client.get(PAGE).status_code == 403
    assert create(client).status_code == 403
    assert client.post(f"{PAGE}/{token.id}/revoke").status_code == 403
    assert ApiToken.select().count() == 1 and ApiToken.get().revoked_at is None


def test_anonymous_is_sent_to_login(client, org):
    response = client.get(PAGE)
    assert response.status_code == 302 and response.headers["Location"].startswith("/acme/login")


def test_tokens_of_another_org_are_neither_listed_nor_revocable(admin_client):
    globex = make_org("globex", "Globex")
    theirs, _secret = issue_token(globex, make_user(globex, "hank", admin=True), "globex tool")
    assert "globex tool" not in admin_client.get(PAGE).get_data(as_text=True)
    assert admin_client.get(f"{PAGE}/{theirs.id}/revoke").status_code == 404
    assert admin_client.post(f"{PAGE}/{theirs.id}/revoke").status_code == 404
    assert ApiToken.get_by_id(theirs.id).revoked_at is None


def test_create_and_revoke_need_the_csrf_token(csrf_app):
    organization = make_org()
    admin = make_user(organization, "admin", admin=True)
    client = csrf_app.test_client()
    login_page = client.get("/acme/login").get_data(as_text=True)
    client.post(
        "/acme/login",
        data={
            "username": "admin",
            "password": "correct horse battery",
            "csrf_token": csrf_token_from(login_page),
        },
    )
    assert client.post(PAGE, data={"name": "sneaky"}).status_code == 400
    assert ApiToken.select().count() == 0
    token, secret = issue_token(organization, admin, "kept")
    assert client.post(f"{PAGE}/{token.id}/revoke").status_code == 400
    assert ApiToken.get_by_id(token.id).revoked_at is None

    page = client.get(PAGE).get_data(as_text=True)
    created = client.post(PAGE, data={"name": "with token", "csrf_token": csrf_token_from(page)})
    assert created.status_code == 303
    revoked = client.post(f"{PAGE}/{token.id}/revoke", data={"csrf_token": csrf_token_from(page)})
    assert revoked.status_code == 303
    assert ApiToken.get_by_id(token.id).revoked_at is not None
