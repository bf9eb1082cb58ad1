"""Who may open the settings: the org's admins only; everyone else is turned away the right way."""

import re

import pytest

from tests.conftest import VALID_SETTINGS, make_org, make_user, without_csrf_tokens

SETTINGS = "/acme/platform/settings/mailserver"
PAGES = [SETTINGS, SETTINGS + "/delete", "/acme/platform/"]


@pytest.mark.parametrize("path", PAGES)
def test_anonymous_is_sent_to_the_org_login(client, org, path):
    response = client.get(path)
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/acme/login?next=")


def test_anonymous_htmx_request_gets_hx_redirect_not_a_login_page(client, org):
    response = client.get(SETTINGS + "/delete", headers={"HX-Request": "true", "HX-Target": "delete-dialog"})
    assert response.headers["HX-Redirect"].startswith("/acme/login?next=")
    assert b"<form" not in response.data


def test_plain_user_gets_403(client, plain_user, auth):
    auth.login("bob")
    assert client.get(SETTINGS).status_code == 403
    assert client.post(SETTINGS, data=VALID_SETTINGS).status_code == 403
    assert client.post(SETTINGS + "/delete", data={"confirmation": "Delete"}).status_code == 403


def test_admin_of_another_org_gets_404(client, admin, auth):
    other = make_org("globex", "Globex")
    make_user(other, "hank", admin=True)
    auth.login("hank", org_id="globex")
    assert client.get(SETTINGS).status_code == 404
    assert client.post(SETTINGS, data=VALID_SETTINGS).status_code == 404
    assert client.get("/acme/platform/").status_code == 404


def test_unknown_org_is_404(client, admin, auth):
    assert client.get("/nosuch/login").status_code == 404
    auth.login()
    assert client.get("/nosuch/platform/settings/mailserver").status_code == 404


def test_next_on_this_site_is_followed_after_login(client, admin, auth):
    response = client.post(
        "/acme/login", data={"username": "admin", "password": "correct horse battery", "next": SETTINGS}
    )
    assert response.headers["Location"] == SETTINGS


@pytest.mark.parametrize(
    "target", ["https://evil.example/", "//evil.example/", "/\\evil.example", "javascript:alert(1)"]
)
def test_next_off_site_is_ignored(client, admin, target):
    response = client.post(
        "/acme/login", data={"username": "admin", "password": "correct horse battery", "next": target}
    )
    assert response.headers["Location"] == "/acme/platform/"


def test_wrong_password_and_unknown_user_get_the_same_answer(client, admin):
    wrong = client.post("/acme/login", data={"username": "admin", "password": "wrong password!"})
    unknown = client.post("/acme/login", data={"username": "nobody", "password": "wrong password!"})
    assert wrong.status_code == unknown.status_code == 200
    assert "The username or password is incorrect." in wrong.get_data(as_text=True)
    assert without_csrf_tokens(wrong.get_data(as_text=True)).replace('value="admin"', "") == (
        without_csrf_tokens(unknown.get_data(as_text=True)).replace('value="nobody"', "")
    )


def test_disabled_user_cannot_log_in(client, admin):
    admin.is_enabled = False
    admin.save()
    response = client.post("/acme/login", data={"username": "admin", "password": "correct horse battery"})
    assert "The username or password is incorrect." in response.get_data(as_text=True)


def test_user_of_one_org_cannot_log_in_to_another(client, admin):
    make_org("globex", "Globex")
    response = client.post("/globex/login", data={"username": "admin", "password": "correct horse battery"})
    assert "The username or password is incorrect." in response.get_data(as_text=True)


def test_logout_is_a_post_and_get_does_not_log_out(client, admin, auth):
    auth.login()
    assert client.get("/acme/logout").status_code == 405
    assert client.get(SETTINGS).status_code == 200
    assert auth.logout().status_code == 303
    assert client.get(SETTINGS).status_code == 302


def test_the_login_form_tells_password_managers_which_field_is_which(client, org):
    page = client.get("/acme/login").get_data(as_text=True)
    assert re.search(r'<input[^>]*autocomplete="username"[^>]*name="username"', page)
    assert re.search(r'<input[^>]*autocomplete="current-password"[^>]*name="password"', page)
