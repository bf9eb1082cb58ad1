"""An org admin creates API tokens (each shown once), sees them listed, and revokes them."""

import json
import re

import pytest

from exastro_mail.api_tokens.tokens import issue_token, token_hash
from exastro_mail.store.models import ApiToken, AuditEvent
from tests.api_helpers import SETTINGS, bearer
from tests.conftest import csrf_token_from, make_org, make_user

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


def test_new_token_is_shown_once_and_works(admin_client):
    response = create(admin_client)
    assert response.status_code == 201
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


def test_creation_is_audited_without_the_token(admin_client):
    secret = SECRET.search(create(admin_client).get_data(as_text=True)).group()
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
    assert created.status_code == 201
    revoked = client.post(f"{PAGE}/{token.id}/revoke", data={"csrf_token": csrf_token_from(page)})
    assert revoked.status_code == 303
    assert ApiToken.get_by_id(token.id).revoked_at is not None
