"""Sessions end on the server, and every state change needs a CSRF token."""

from exastro_mail.store.models import LoginSession, MailServerSettings
from tests.conftest import DEFAULT_PASSWORD, VALID_SETTINGS, csrf_token_from, make_org, make_user

SETTINGS = "/acme/platform/settings/mailserver"


def login_with_csrf(client, username="admin"):
    token = csrf_token_from(client.get("/acme/login").get_data(as_text=True))
    response = client.post(
        "/acme/login", data={"username": username, "password": DEFAULT_PASSWORD, "csrf_token": token}
    )
    assert response.status_code == 302, response.get_data(as_text=True)


def session_cookie(client):
    return client.get_cookie("session").value


def test_copied_cookie_stops_working_after_logout(app):
    org = make_org()
    make_user(org, "admin", admin=True)
    browser, thief = app.test_client(), app.test_client()
    browser.post("/acme/login", data={"username": "admin", "password": DEFAULT_PASSWORD})
    thief.set_cookie("session", session_cookie(browser))
    assert thief.get(SETTINGS).status_code == 200
    browser.post("/acme/logout")
    assert thief.get(SETTINGS).status_code == 302
    assert LoginSession.select().count() == 0


def test_ending_all_sessions_logs_out_every_browser(app):
    from exastro_mail.auth.sessions import end_all_sessions

    org = make_org()
    user = make_user(org, "admin", admin=True)
    first, second = app.test_client(), app.test_client()
    for client in (first, second):
        client.post("/acme/login", data={"username": "admin", "password": DEFAULT_PASSWORD})
        assert client.get(SETTINGS).status_code == 200
    assert end_all_sessions(user) == 2
    assert first.get(SETTINGS).status_code == 302
    assert second.get(SETTINGS).status_code == 302


def test_session_cookie_holds_no_readable_token(app):
    org = make_org()
    make_user(org, "admin", admin=True)
    client = app.test_client()
    client.post("/acme/login", data={"username": "admin", "password": DEFAULT_PASSWORD})
    cookie = client.get_cookie("session")
    assert cookie.http_only and cookie.same_site == "Lax"
    stored = LoginSession.get()
    assert stored.token_hash not in cookie.value


def test_post_without_csrf_token_is_refused(csrf_app):
    org = make_org()
    make_user(org, "admin", admin=True)
    client = csrf_app.test_client()
    login_with_csrf(client)
    response = client.post(SETTINGS, data=VALID_SETTINGS)
    assert response.status_code == 400
    assert "The form has expired" in response.get_data(as_text=True)
    assert MailServerSettings.select().count() == 0


def test_post_with_form_token_or_htmx_header_is_accepted(csrf_app):
    org = make_org()
    make_user(org, "admin", admin=True)
    client = csrf_app.test_client()
    login_with_csrf(client)
    page = client.get(SETTINGS).get_data(as_text=True)
    token = csrf_token_from(page)
    assert client.post(SETTINGS, data={**VALID_SETTINGS, "csrf_token": token}).status_code == 303
    refused = client.post(
        SETTINGS + "/delete", data={"confirmation": "Delete"}, headers={"HX-Request": "true"}
    )
    assert refused.status_code == 400
    assert MailServerSettings.select().count() == 1
    header_token = csrf_token_from(client.get(SETTINGS).get_data(as_text=True).split("<body", 1)[1])
    accepted = client.post(
        SETTINGS + "/delete",
        data={"confirmation": "Delete"},
        headers={"HX-Request": "true", "HX-Target": "delete-dialog", "X-CSRFToken": header_token},
    )
    assert accepted.headers["HX-Redirect"] == SETTINGS
    assert MailServerSettings.select().count() == 0


def test_logout_without_csrf_token_does_not_log_out(csrf_app):
    org = make_org()
    make_user(org, "admin", admin=True)
    client = csrf_app.test_client()
    login_with_csrf(client)
    assert client.post("/acme/logout").status_code == 400
    assert client.get(SETTINGS).status_code == 200


def test_login_without_csrf_token_is_refused(csrf_app):
    org = make_org()
    make_user(org, "admin", admin=True)
    client = csrf_app.test_client()
    response = client.post("/acme/login", data={"username": "admin", "password": DEFAULT_PASSWORD})
    assert response.status_code == 400
    assert client.get(SETTINGS).status_code == 302
