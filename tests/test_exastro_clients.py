"""Exastro's own clients cannot tell us apart: the bodies its web UI, its OpenAPI example and its own
tests send get the status and `result` Exastro answers, and GET answers what its clients read.

The bodies are copied verbatim into tests/data/exastro/ (each file names its source in
exastro-suite/exastro-platform). Where we differ on purpose (docs/api.md, "Compatibility with
Exastro"), the test says so and asserts our answer.
"""

import time
from datetime import datetime

import pytest

from exastro_mail.store.models import MailServerSettings
from tests.api_helpers import SETTINGS, basic
from tests.conftest import VALID_SETTINGS
from tests.exastro_bodies import CREATE, UPDATE, changed, exastro_body, post

PAGE = "/acme/platform/settings/mailserver"


def stored() -> MailServerSettings | None:
    return MailServerSettings.get_or_none()


def assert_result(response, status: int, result: str):
    assert (response.status_code, response.json["result"]) == (status, result), response.json


@pytest.mark.parametrize(
    ("source", "name"),
    [
        ("openapi_example", "create"),
        ("test_data", "create"),
        ("test_data", "update"),
        ("web_ui", "without_authentication"),
        ("web_ui", "with_authentication"),
    ],
)
def test_exastros_own_bodies_register_the_settings(api, source, name):
    body = exastro_body(source, name)
    response = post(api, body)
    assert_result(response, 200, "000-00000")
    assert response.json["message"] == "SUCCESS"
    data = api.get(SETTINGS).json["data"]
    sent = {key: value for key, value in body.items() if key != "authentication_password"}
    if not body["authentication_enable"]:
        sent["authentication_user"] = ""  # see test_authentication_off_clears_the_user_as_the_web_ui_does
    assert {key: data[key] for key in sent} == sent


def test_get_answers_who_registered_and_who_changed_the_settings_and_when(api, client, admin):
    post(api, CREATE)
    first = api.get(SETTINGS).json["data"]
    assert first["create_user"] == first["last_update_user"] == "admin (API token tests)"
    assert first["create_timestamp"] == first["last_update_timestamp"]
    time.sleep(0.01)

    password = client.post(SETTINGS, json=UPDATE, headers=basic("admin"))  # as Exastro's test: update
    assert_result(password, 200, "000-00000")
    second = api.get(SETTINGS).json["data"]
    assert second["create_timestamp"] == first["create_timestamp"]
    assert second["create_user"] == "admin (API token tests)"
    assert second["last_update_user"] == "admin"
    assert datetime.fromisoformat(second["last_update_timestamp"]) > datetime.fromisoformat(
        first["last_update_timestamp"]
    )
    assert second["last_update_timestamp"].endswith("Z")


def test_the_page_records_who_changed_the_settings_as_the_api_does(api, client, auth):
    post(api, CREATE)
    auth.login()
    assert client.post(PAGE, data=VALID_SETTINGS).status_code == 303
    assert (stored().created_by, stored().updated_by) == ("admin (API token tests)", "admin")


def test_blank_text_fields_come_back_as_empty_strings_as_exastro_answers_them(api):
    post(api, changed(CREATE, send_name=..., reply_to=None, reply_name="", envelope_from=...))
    data = api.get(SETTINGS).json["data"]
    assert [data[key] for key in ("send_name", "reply_to", "reply_name", "envelope_from")] == [""] * 4
    assert data["authentication_user"] == ""
    assert data["trusted_ca_pem"] is None  # beyond Exastro's fields: null


def test_authentication_off_clears_the_user_as_the_web_ui_does(api, client, auth):
    # Exastro's page sends "" for the user while authentication is off; we clear one sent anyway, in
    # the API as on our page (docs/api.md says why).
    post(api, changed(UPDATE, authentication_enable=False))
    assert api.get(SETTINGS).json["data"]["authentication_user"] == ""
    assert stored().authentication_password_sealed is None

    auth.login()
    page = client.post(PAGE, data={**VALID_SETTINGS, "authentication_enable": ""})
    assert page.status_code == 303
    assert (stored().authentication_enable, stored().authentication_user) == (False, None)


@pytest.mark.parametrize(
    ("removed", "flag"),
    [
        (("start_tls_enable", "authentication_enable"), "start_tls_enable"),
        (("ssl_enable",), "ssl_enable"),
    ],
)
def test_a_flag_left_out_is_false_as_exastros_defaults(api, removed, flag):
    response = post(api, changed(UPDATE, **dict.fromkeys(removed, ...)))
    assert_result(response, 200, "000-00000")
    data = api.get(SETTINGS).json["data"]
    assert data[flag] is False
    assert data["authentication_enable"] is ("authentication_enable" not in removed)


def test_ssl_on_and_starttls_off_is_taken(api):
    body = changed(UPDATE, ssl_enable=True, start_tls_enable=False, authentication_enable=False)
    assert_result(post(api, body), 200, "000-00000")
    assert stored().encryption == "ssl"


# Exastro's "swagger validation" cases: each a 400 there. Ours say which rule, with Exastro's codes:
# a wrong JSON type is its 400-00002 (invalid body parameter), a required field left out or null its
# 400-00011 (required), as it answers "".
@pytest.mark.parametrize(
    ("changes", "result"),
    [
        ({"smtp_host": None}, "400-00011"),
        ({"smtp_host": 1}, "400-00002"),
        ({"smtp_host": ...}, "400-00011"),
        ({"smtp_port": None}, "400-00011"),
        ({"smtp_port": ...}, "400-00011"),
        ({"send_from": None}, "400-00011"),
        ({"send_from": 1}, "400-00002"),
        ({"send_from": ...}, "400-00011"),
        ({"send_name": 1}, "400-00002"),
        ({"reply_to": 1}, "400-00002"),
        ({"reply_name": 1}, "400-00002"),
        ({"envelope_from": 1}, "400-00002"),
        ({"ssl_enable": 1}, "400-00002"),
        ({"ssl_enable": "True"}, "400-00002"),
        ({"start_tls_enable": 1}, "400-00002"),
        ({"start_tls_enable": "True"}, "400-00002"),
        ({"authentication_enable": 1}, "400-00002"),
        ({"authentication_enable": "True"}, "400-00002"),
        ({"authentication_user": 1}, "400-00002"),
        ({"authentication_password": 1}, "400-00002"),
    ],
)
def test_exastros_schema_cases_are_400_naming_the_field(api, changes, result):
    response = post(api, changed(UPDATE, **changes))
    assert_result(response, 400, result)
    assert set(response.json["errors"]) == set(changes)
    assert stored() is None


def test_a_numeric_port_which_exastros_schema_refuses_is_taken(api):
    # Wider than Exastro on purpose (docs/api.md): 587 means the same as "587".
    assert_result(post(api, changed(UPDATE, smtp_port=1)), 200, "000-00000")
    assert api.get(SETTINGS).json["data"]["smtp_port"] == "1"


def test_exastros_rest_sample_with_upper_case_names_is_refused_as_exastro_refuses_it(api):
    response = post(api, exastro_body("rest_sample", "create"))
    assert_result(response, 400, "400-00011")
    assert set(response.json["errors"]) == {"smtp_host", "smtp_port", "send_from"}


# Exastro's test_mailserver_validate, rule by rule, through the API. Limits are Exastro's unless the
# comment says ours differs (docs/api.md lists why).
HOST_1024 = "t".ljust(1024, "a")
LOCAL_PART = "@example.com"


@pytest.mark.parametrize(
    ("changes", "result"),
    [
        ({"smtp_host": ""}, "400-00011"),
        ({"smtp_host": HOST_1024}, "400-00012"),  # Exastro takes 1024; a DNS name has at most 253
        ({"smtp_host": HOST_1024 + "a"}, "400-00012"),
        ({"smtp_host": "abcdefghijklmnopqrstuvwxyz"}, "000-00000"),
        ({"smtp_host": "ABCDEFGHIJKLMNOPQRSTUVWXYZ"}, "000-00000"),
        ({"smtp_host": "0123456789"}, "400-00028"),  # Exastro takes it; resolvers read it as an IPv4
        ({"smtp_host": "abc-efg.example.com"}, "000-00000"),
        ({"smtp_host": "test_example.com"}, "400-00028"),
        ({"smtp_host": f"test.{'a' * 63}.example.com"}, "000-00000"),
        ({"smtp_host": "test.a.example.com"}, "000-00000"),
        ({"smtp_host": "test..example.com"}, "400-00028"),
        ({"smtp_host": f"test.{'a' * 64}.example.com"}, "400-00028"),
        ({"smtp_port": ""}, "400-00011"),
        ({"smtp_port": "a"}, "400-00029"),
        ({"smtp_port": "-1"}, "400-00029"),
        ({"smtp_port": "0"}, "400-00030"),  # Exastro takes port 0, which no server listens on
        ({"smtp_port": "65535"}, "000-00000"),
        ({"smtp_port": "65536"}, "400-00030"),
        ({"send_from": ""}, "400-00011"),
        ({"send_from": "t".ljust(255 - len(LOCAL_PART), "a") + LOCAL_PART}, "400-00023"),
        ({"send_from": "t".ljust(256 - len(LOCAL_PART), "a") + LOCAL_PART}, "400-00012"),
        ({"send_from": "test@example.com"}, "000-00000"),
        ({"send_from": "test@@example.com"}, "400-00023"),
        ({"send_name": ""}, "000-00000"),
        ({"send_name": None}, "000-00000"),
        ({"send_name": "t".ljust(100, "a")}, "000-00000"),
        ({"send_name": "t".ljust(101, "a")}, "400-00012"),
        ({"reply_to": ""}, "000-00000"),
        ({"reply_to": None}, "000-00000"),
        ({"reply_to": "t".ljust(255 - len(LOCAL_PART), "a") + LOCAL_PART}, "400-00023"),
        ({"reply_to": "t".ljust(256 - len(LOCAL_PART), "a") + LOCAL_PART}, "400-00012"),
        ({"reply_to": "test@@example.com"}, "400-00023"),
        ({"reply_name": "t".ljust(100, "a")}, "000-00000"),
        ({"reply_name": "t".ljust(101, "a")}, "400-00012"),
        ({"envelope_from": ""}, "000-00000"),
        ({"envelope_from": "t".ljust(255 - len(LOCAL_PART), "a") + LOCAL_PART}, "400-00023"),
        ({"envelope_from": "t".ljust(256 - len(LOCAL_PART), "a") + LOCAL_PART}, "400-00012"),
        ({"envelope_from": "test@@example.com"}, "400-00023"),
        ({"ssl_enable": True, "start_tls_enable": True}, "400-00031"),
        ({"ssl_enable": False, "start_tls_enable": False}, "000-00000"),
        ({"ssl_enable": True, "start_tls_enable": False}, "000-00000"),
        ({"authentication_user": "t".ljust(255, "a")}, "000-00000"),
        ({"authentication_user": "t".ljust(256, "a")}, "400-00012"),
        ({"authentication_password": "t".ljust(255, "a")}, "000-00000"),
        ({"authentication_password": "t".ljust(256, "a")}, "400-00012"),
        ({"authentication_user": "", "authentication_password": "password"}, "400-00032"),
        ({"authentication_user": None, "authentication_password": "password"}, "400-00032"),
        ({"authentication_user": "user", "authentication_password": ""}, "400-00032"),
        ({"authentication_user": "user", "authentication_password": None}, "400-00032"),
        ({"authentication_user": "user", "authentication_password": "password"}, "000-00000"),
        ({"authentication_enable": False, "authentication_user": ""}, "000-00000"),
        ({"authentication_enable": False, "authentication_password": None}, "000-00000"),
    ],
)
def test_exastros_validation_cases_answer_its_codes(api, changes, result):
    response = post(api, changed(UPDATE, **changes))
    assert_result(response, 200 if result == "000-00000" else 400, result)
