"""The Exastro-compatible settings API: same names, same rules as the form, never the password."""

import json
import re
from datetime import UTC, datetime

import pytest

from exastro_mail.store.models import AuditEvent, MailServerSettings
from tests.api_helpers import EXASTRO_SETTINGS, SETTINGS, basic
from tests.conftest import VALID_SETTINGS, build_app, make_org, make_user, unsealed

PASSWORD = EXASTRO_SETTINGS["authentication_password"]


def stored() -> MailServerSettings | None:
    return MailServerSettings.get_or_none()


def register(api, **changes):
    body = {**EXASTRO_SETTINGS, **changes}
    return api.post(SETTINGS, json={name: value for name, value in body.items() if value is not ...})


def assert_success(response, status=200):
    assert response.status_code == status, response.json
    assert response.json["result"] == "000-00000"
    assert response.json["message"] == "SUCCESS"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", response.json["ts"])
    assert (
        abs(
            (
                datetime.fromisoformat(response.json["ts"][:-1]) - datetime.now(UTC).replace(tzinfo=None)
            ).total_seconds()
        )
        < 60
    )


def assert_field_errors(response, *fields, result):
    assert response.status_code == 400, response.json
    assert response.json["result"] == result
    assert response.json["data"] is None
    assert set(response.json["errors"]) == set(fields)
    assert all(response.json["errors"][name] for name in fields)


def test_get_without_settings_answers_empty_data(api):
    response = api.get(SETTINGS)
    assert_success(response)
    assert response.json["data"] == {}


def test_post_registers_settings_sent_the_exastro_way(api, app):
    response = register(api)
    assert_success(response)
    row = stored()
    assert (row.smtp_host, row.smtp_port, row.encryption) == ("smtp.example.com", 587, "starttls")
    assert (row.send_from, row.send_name) == ("noreply@example.com", "ACME notifications")
    assert (row.reply_to, row.reply_name) == ("support@example.com", "ACME support")
    assert row.envelope_from == "bounces@example.com"
    assert row.authentication_user == "mailer"
    assert unsealed(app, row.authentication_password_sealed) == PASSWORD
    event = AuditEvent.get(AuditEvent.action == "mail_server_settings.registered")
    assert event.actor == "admin (API token tests)"
    assert PASSWORD not in (event.detail or "")


def test_get_answers_the_settings_without_the_password(api):
    register(api)
    response = api.get(SETTINGS)
    assert_success(response)
    expected = {name: value for name, value in EXASTRO_SETTINGS.items() if name != "authentication_password"}
    data = response.json["data"]
    assert {name: data[name] for name in expected} == expected
    assert data["authentication_password_set"] is True
    assert "authentication_password" not in data
    assert PASSWORD not in response.get_data(as_text=True)
    assert "sealed" not in response.get_data(as_text=True)


def test_post_answers_the_saved_settings_without_the_password(api):
    response = register(api)
    assert response.json["data"]["smtp_host"] == "smtp.example.com"
    assert PASSWORD not in response.get_data(as_text=True)


@pytest.mark.parametrize("port", ["587", 587, "0587"])
def test_smtp_port_is_taken_as_string_or_number(api, port):
    assert_success(register(api, smtp_port=port))
    assert stored().smtp_port == 587
    assert api.get(SETTINGS).json["data"]["smtp_port"] == "587"


@pytest.mark.parametrize(
    ("ssl_enable", "start_tls_enable", "encryption"),
    [(False, False, "none"), (True, False, "ssl"), (False, True, "starttls"), (..., ..., "none")],
)
def test_encryption_flags_choose_the_method(api, ssl_enable, start_tls_enable, encryption):
    assert_success(register(api, ssl_enable=ssl_enable, start_tls_enable=start_tls_enable))
    assert stored().encryption == encryption


def test_both_encryption_flags_is_400_naming_both(api):
    response = register(api, ssl_enable=True, start_tls_enable=True)
    assert_field_errors(response, "ssl_enable", "start_tls_enable", result="400-00031")
    assert "not both" in response.json["errors"]["ssl_enable"]
    assert stored() is None


@pytest.mark.parametrize(
    ("changes", "field", "words", "result"),
    [
        ({"smtp_host": "smtp://mail.example.com"}, "smtp_host", "without a scheme", "400-00028"),
        ({"smtp_host": "mail.example.com:25"}, "smtp_host", "port", "400-00028"),
        ({"smtp_host": ...}, "smtp_host", "Enter the SMTP server host", "400-00011"),
        ({"smtp_host": 42}, "smtp_host", "Must be text", "400-00002"),
        ({"smtp_port": "70000"}, "smtp_port", "1 to 65535", "400-00030"),
        ({"smtp_port": 0}, "smtp_port", "1 to 65535", "400-00030"),
        ({"smtp_port": 25.5}, "smtp_port", "whole number", "400-00002"),
        ({"smtp_port": True}, "smtp_port", "whole number", "400-00002"),
        ({"smtp_port": ...}, "smtp_port", "Enter the SMTP server port", "400-00011"),
        ({"smtp_port": ""}, "smtp_port", "Enter the SMTP server port", "400-00011"),
        ({"smtp_port": " 587"}, "smtp_port", "whole number", "400-00029"),
        ({"smtp_port": "５８７"}, "smtp_port", "whole number", "400-00029"),
        ({"send_from": "a@example.com, b@example.com"}, "send_from", "not a list", "400-00023"),
        ({"send_from": "ACME <noreply@example.com>"}, "send_from", "display name", "400-00023"),
        ({"send_from": ...}, "send_from", "Enter a mail address", "400-00011"),
        ({"reply_to": "no-at-sign"}, "reply_to", "not a valid mail address", "400-00023"),
        (
            {"envelope_from": "bounces@example.com\r\nBcc: x@example.com"},
            "envelope_from",
            "one line",
            "400-00023",
        ),
        ({"send_name": "x" * 101}, "send_name", "at most 100", "400-00012"),
        ({"reply_name": "line\nbreak"}, "reply_name", "one line", "400-00013"),
        ({"authentication_user": ""}, "authentication_user", "Enter the authentication user", "400-00032"),
        (
            {"authentication_password": ...},
            "authentication_password",
            "Enter the authentication password",
            "400-00032",
        ),
        ({"authentication_enable": "yes"}, "authentication_enable", "true or false", "400-00002"),
        ({"ssl_enable": [1]}, "ssl_enable", "true or false", "400-00002"),
        ({"start_tls_enable": "true"}, "start_tls_enable", "true or false", "400-00002"),
        ({"send_name": " " + "x" * 100}, "send_name", "at most 100", "400-00012"),
        (
            {"authentication_enable": False, "authentication_user": "u" * 256},
            "authentication_user",
            "at most 255",
            "400-00012",
        ),
        (
            {"authentication_enable": False, "authentication_password": 12345},
            "authentication_password",
            "text",
            "400-00002",
        ),
    ],
)
def test_wrong_field_is_400_with_exastros_code_naming_it_and_nothing_is_saved(
    api, changes, field, words, result
):
    response = register(api, **changes)
    assert_field_errors(response, field, result=result)
    assert words in response.json["errors"][field]
    assert stored() is None


def test_the_api_and_the_form_give_the_same_message(api, client, auth):
    auth.login()
    form_page = client.post(
        "/acme/platform/settings/mailserver", data={**VALID_SETTINGS, "smtp_host": "mail.example.com:25"}
    ).get_data(as_text=True)
    message = register(api, smtp_host="mail.example.com:25").json["errors"]["smtp_host"]
    assert f'<p class="error" id="smtp_host-error">{message}</p>' in form_page


def test_port_warning_comes_back_with_the_saved_settings(api):
    response = register(api, smtp_port="465")
    assert_success(response)
    assert "465" in response.json["warnings"]["smtp_port"]
    assert "warnings" not in register(api).json


def test_post_without_password_keeps_the_stored_one(api, app):
    register(api)
    for missing in (..., None, ""):
        assert_success(register(api, authentication_password=missing, send_name="Renamed"))
        assert unsealed(app, stored().authentication_password_sealed) == PASSWORD
    assert api.get(SETTINGS).json["data"]["authentication_password_set"] is True


def test_post_with_a_new_password_replaces_it(api, app):
    register(api)
    assert_success(register(api, authentication_password="a-new-one"))
    assert unsealed(app, stored().authentication_password_sealed) == "a-new-one"
    event = AuditEvent.select().where(AuditEvent.action == "mail_server_settings.changed").get()
    assert json.loads(event.detail)["fields"] == ["authentication_password"]
    assert "a-new-one" not in event.detail


def test_authentication_off_clears_user_and_password(api):
    register(api)
    assert_success(register(api, authentication_enable=False))
    row = stored()
    assert (row.authentication_enable, row.authentication_user, row.authentication_password_sealed) == (
        False,
        None,
        None,
    )
    assert api.get(SETTINGS).json["data"]["authentication_password_set"] is False


def test_what_get_answers_can_be_posted_back_unchanged(api, app):
    register(api)
    data = api.get(SETTINGS).json["data"]
    assert_success(api.post(SETTINGS, json=data))
    assert unsealed(app, stored().authentication_password_sealed) == PASSWORD
    assert not AuditEvent.select().where(AuditEvent.action == "mail_server_settings.changed").exists()


def test_post_replaces_every_field_it_omits(api):
    register(api)
    assert_success(register(api, reply_to=..., reply_name=..., send_name=...))
    row = stored()
    assert (row.reply_to, row.reply_name, row.send_name) == (None, None, None)
    assert row.envelope_from == "bounces@example.com"


def test_trusted_ca_is_shown_but_not_taken(api):
    register(api)
    MailServerSettings.update(trusted_ca_pem="-----BEGIN CERTIFICATE-----\n...").execute()
    assert api.get(SETTINGS).json["data"]["trusted_ca_pem"].startswith("-----BEGIN CERTIFICATE-----")
    assert_success(register(api, trusted_ca_pem=None, send_name="Renamed"))
    assert stored().trusted_ca_pem == "-----BEGIN CERTIFICATE-----\n..."


def test_delete_removes_the_settings_and_answers_success_when_none_are_left(api):
    register(api)
    response = api.delete(SETTINGS)
    assert_success(response)
    assert response.json["data"] is None
    assert stored() is None
    assert api.get(SETTINGS).json["data"] == {}
    assert AuditEvent.select().where(AuditEvent.action == "mail_server_settings.deleted").count() == 1
    assert_success(api.delete(SETTINGS))
    assert AuditEvent.select().where(AuditEvent.action == "mail_server_settings.deleted").count() == 1


@pytest.mark.parametrize(
    ("body", "content_type", "words"),
    [
        (b'{"smtp_host": ', "application/json", "not valid JSON"),
        (b"", "application/json", "not valid JSON"),
        (b"[1, 2]", "application/json", "not an array"),
        (b'"smtp.example.com"', "application/json", "not a string"),
        (b"null", "application/json", "not null"),
        (b'{"smtp_port": NaN}', "application/json", "not valid JSON"),
        (b"\xff\xfe\xfd", "application/json", "not valid JSON"),
        (b"[" * 100_000, "application/json", "JSON"),
        (json.dumps(EXASTRO_SETTINGS).encode(), "text/plain", "Content-Type: application/json"),
        (b"smtp_host=smtp.example.com", "application/x-www-form-urlencoded", "application/json"),
        (json.dumps(EXASTRO_SETTINGS).encode(), None, "Content-Type"),
    ],
)
def test_unreadable_body_is_400_saying_why(api, body, content_type, words):
    headers = {"Content-Type": content_type} if content_type else {}
    response = api.post(SETTINGS, data=body, headers=headers)
    assert response.status_code == 400
    assert response.json["result"] == "400-00002"
    assert words in response.json["message"]
    assert stored() is None


def test_text_that_is_not_unicode_is_400_naming_the_field(api):
    body = json.dumps({**EXASTRO_SETTINGS, "send_name": "x"}).replace('"x"', '"\\ud800"')
    response = api.post(SETTINGS, data=body, headers={"Content-Type": "application/json"})
    assert_field_errors(response, "send_name", result="400-00002")
    assert stored() is None


def test_body_over_8_mib_is_413(api):
    response = api.post(
        SETTINGS, data=b" " * (8 * 1024 * 1024 + 1), headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 413
    assert response.json["result"] == "413-00001"


def test_settings_of_another_org_are_out_of_reach(api, client):
    globex = make_org("globex", "Globex")
    make_user(globex, "hank", admin=True)
    assert api.get("/api/globex/platform/settings/mailserver").status_code == 404
    assert api.post("/api/globex/platform/settings/mailserver", json=EXASTRO_SETTINGS).status_code == 404
    assert api.delete("/api/globex/platform/settings/mailserver").status_code == 404
    assert MailServerSettings.select().count() == 0


def test_private_hosts_are_refused_by_the_install_as_shipped(tmp_path):
    app = build_app(tmp_path, SMTP_ALLOWED_HOSTS="")  # the suite's loopback allowance taken away
    with app.app_context():
        organization = make_org()
        make_user(organization, "admin", admin=True)
        client = app.test_client()
        response = client.post(
            SETTINGS, json={**EXASTRO_SETTINGS, "smtp_host": "127.0.0.1"}, headers=basic("admin")
        )
        assert_field_errors(response, "smtp_host", result="400-00028")
        assert "public addresses" in response.json["errors"]["smtp_host"]
        assert response.json["message"] == response.json["errors"]["smtp_host"]
        assert MailServerSettings.select().count() == 0
