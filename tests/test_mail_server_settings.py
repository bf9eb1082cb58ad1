"""An org admin registers, changes and deletes the mail sending server settings."""

import re

import pytest

from exastro_mail.store.models import AuditEvent, MailServerSettings
from tests.conftest import VALID_SETTINGS, unsealed

URL = "/acme/platform/settings/mailserver"


@pytest.fixture
def admin_client(client, admin, auth):
    auth.login()
    return client


def register(client, **changes):
    return client.post(URL, data={**VALID_SETTINGS, **changes})


def stored():
    return MailServerSettings.get_or_none()


def test_admin_lands_on_menu_with_mail_sending_server_settings(client, admin, auth):
    response = auth.login()
    assert response.status_code == 302
    assert response.headers["Location"] == "/acme/platform/"
    menu = client.get("/acme/platform/").get_data(as_text=True)
    assert 'href="/acme/platform/settings/mailserver">Mail sending server settings</a>' in menu


def test_plain_user_sees_menu_without_admin_items(client, plain_user, auth):
    auth.login("bob")
    menu = client.get("/acme/platform/").get_data(as_text=True)
    assert "bob" in menu
    assert "Mail sending server settings" not in menu
    assert "Log out" in menu


def test_form_has_the_documented_labels_and_limits(admin_client):
    html = admin_client.get(URL).get_data(as_text=True)
    for label in (
        "SMTP server host",
        "Encryption method",
        "SMTP server port",
        "With authentication",
        "Authentication user",
        "Authentication password",
        "Source mail address (From)",
        "Source display name",
        "Reply mail address (Reply-to)",
        "Reply display name",
        "Sender mail address (Envelope-From)",
    ):
        assert f">{label}<" in html
    assert re.search(r'<input[^>]*id="smtp_host"[^>]*maxlength="253"[^>]*required', html)
    assert re.search(r'<input[^>]*id="send_name"[^>]*maxlength="100"', html)
    assert re.search(r'<input[^>]*id="send_from"[^>]*maxlength="255"[^>]*required', html)
    assert 'value="starttls"' in html and 'value="ssl"' in html and 'value="none"' in html
    assert "Delete settings" not in html


def test_register_saves_and_shows_the_message(admin_client, app):
    response = register(admin_client)
    assert response.status_code == 303
    page = admin_client.get(URL).get_data(as_text=True)
    assert "Registered SMTP server settings for email sending" in page
    assert "Delete settings" in page
    row = stored()
    assert (row.smtp_host, row.smtp_port, row.encryption) == ("smtp.example.com", 587, "starttls")
    assert row.authentication_user == "mailer"
    assert unsealed(app, row.authentication_password_sealed) == "s3cret-SMTP-pass"
    assert row.envelope_from == "bounces@example.com"


def test_saving_again_updates_the_one_row(admin_client, app):
    register(admin_client)
    register(admin_client, send_name="Relay", authentication_password="")
    assert MailServerSettings.select().count() == 1
    row = stored()
    assert row.send_name == "Relay"
    assert unsealed(app, row.authentication_password_sealed) == "s3cret-SMTP-pass"


def test_stored_password_is_never_sent_back(admin_client):
    register(admin_client)
    html = admin_client.get(URL).get_data(as_text=True)
    assert "s3cret-SMTP-pass" not in html
    assert re.search(r'<input[^>]*id="authentication_password"[^>]*type="password"', html)
    assert not re.search(r'id="authentication_password"[^>]*value="[^"]', html)
    assert "leave blank to keep the current password" in html


def test_bad_input_gets_messages_next_to_each_field_and_saves_nothing(admin_client):
    register(admin_client)
    before = stored().smtp_host
    response = register(
        admin_client, smtp_host="smtp://bad", smtp_port="99999", send_from="Me <me@example.com>"
    )
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert re.search(r'id="smtp_host-error">Enter the host name only, without a scheme', html)
    assert re.search(r'id="smtp_port-error">Enter a whole number from 1 to 65535', html)
    assert re.search(r'id="send_from-error">Enter the address only', html)
    assert 'aria-invalid="true"' in html
    assert "Nothing was saved" in html
    assert stored().smtp_host == before
    assert 'value="smtp://bad"' in html  # what was typed stays for correcting


def test_unticking_authentication_clears_user_and_password(admin_client):
    register(admin_client)
    data = {**VALID_SETTINGS, "authentication_password": ""}
    del data["authentication_enable"]
    assert admin_client.post(URL, data=data).status_code == 303
    row = stored()
    assert row.authentication_enable is False
    assert row.authentication_user is None and row.authentication_password_sealed is None


def test_unusual_port_saves_with_a_warning(admin_client):
    assert register(admin_client, smtp_port="465", encryption="starttls").status_code == 303
    html = admin_client.get(URL).get_data(as_text=True)
    assert "Port 465 is usually used with SSL/TLS" in html
    assert stored().smtp_port == 465


def test_login_page_shows_forgot_password_only_while_settings_exist(admin_client, client):
    assert "Forgot password" not in client.get("/acme/login").get_data(as_text=True)
    register(admin_client)
    login_page = admin_client.get("/acme/login").get_data(as_text=True)
    assert 'href="/acme/forgot-password">Forgot password</a>' in login_page
    admin_client.post(URL + "/delete", data={"confirmation": "Delete"})
    assert "Forgot password" not in admin_client.get("/acme/login").get_data(as_text=True)


def test_delete_dialog_fragment_for_htmx_and_full_page_without(admin_client):
    register(admin_client)
    fragment = admin_client.get(URL + "/delete", headers={"HX-Request": "true", "HX-Target": "delete-dialog"})
    text = fragment.get_data(as_text=True)
    assert "<html" not in text
    assert "will be deleted" in text and "cannot be restored" in text
    assert "Password reset by email and mail notifications will stop working." in text
    assert "Yes, delete" in text and 'data-confirm-word="Delete"' in text
    assert "HX-Target" in fragment.headers["Vary"]
    page = admin_client.get(URL + "/delete").get_data(as_text=True)
    assert "<html" in page and "Yes, delete" in page


@pytest.mark.parametrize("typed", ["", "delete", " Delete ", "DELETE", "Delete!", "削除"])
def test_delete_needs_exactly_delete(admin_client, typed):
    register(admin_client)
    response = admin_client.post(
        URL + "/delete",
        data={"confirmation": typed},
        headers={"HX-Request": "true", "HX-Target": "delete-dialog"},
    )
    assert response.status_code == 422
    text = response.get_data(as_text=True)
    assert "Type Delete exactly" in text and "<html" not in text
    assert stored() is not None


def test_delete_with_htmx_removes_the_row_and_redirects(admin_client):
    register(admin_client)
    response = admin_client.post(
        URL + "/delete",
        data={"confirmation": "Delete"},
        headers={"HX-Request": "true", "HX-Target": "delete-dialog"},
    )
    assert response.headers["HX-Redirect"] == URL
    assert MailServerSettings.select().count() == 0
    page = admin_client.get(URL).get_data(as_text=True)
    assert "The email sending server settings have been deleted." in page
    assert 'id="smtp_host"' in page and 'value="smtp.example.com"' not in page


def test_delete_without_javascript_works_with_plain_posts(admin_client):
    register(admin_client)
    response = admin_client.post(URL + "/delete", data={"confirmation": "Delete"})
    assert response.status_code == 303 and response.headers["Location"] == URL
    assert stored() is None


def test_changes_are_audited_without_secrets(admin_client):
    register(admin_client)
    register(admin_client, smtp_host="relay.example.net", authentication_password="n3w-pass-word")
    admin_client.post(URL + "/delete", data={"confirmation": "Delete"})
    events = list(
        AuditEvent.select().where(AuditEvent.action.startswith("mail_server")).order_by(AuditEvent.id)
    )
    assert [event.action for event in events] == [
        "mail_server_settings.registered",
        "mail_server_settings.changed",
        "mail_server_settings.deleted",
    ]
    assert '"authentication_password"' in events[1].detail and '"smtp_host"' in events[1].detail
    for event in events:
        assert "pass" not in (event.detail or "").replace("authentication_password", "")
