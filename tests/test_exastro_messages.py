"""Exastro's words: the message of each validation code in English and Japanese, the first field at
fault in Exastro's order of checks, Exastro's Language header, and the page's register and delete
messages. English texts are Exastro's with its copy-paste slips fixed (docs/api.md lists them)."""

import pytest

from tests.api_helpers import SETTINGS, basic
from tests.conftest import VALID_SETTINGS
from tests.exastro_bodies import UPDATE, changed, exastro_cases, post

PAGE = "/acme/platform/settings/mailserver"
# Each case changes Exastro's own update body (tests/data/exastro/test_data.json).
CASES = exastro_cases("messages")


@pytest.mark.parametrize(
    "case", CASES, ids=[case["result"] + " " + ",".join(case["changes"]) for case in CASES]
)
def test_each_rule_answers_exastros_code_and_message_in_both_languages(api, case):
    body = changed(UPDATE, **case["changes"])
    for language in ("en", "ja"):
        response = post(api, body, language)
        assert response.status_code == 400
        assert (response.json["result"], response.json["message"]) == (case["result"], case[language])
        assert set(response.json["errors"]) >= set(case["changes"])


@pytest.mark.parametrize(
    ("changes", "result", "named"),
    [
        (
            {"smtp_host": "", "send_from": "x", "ssl_enable": True, "start_tls_enable": True},
            "400-00011",
            "SMTP Server Host",
        ),
        ({"smtp_port": "a", "smtp_host": "smtp://x"}, "400-00028", "SMTP Server Host"),
        ({"send_from": "x", "smtp_port": "0"}, "400-00030", "SMTP Server Port"),
        (
            {"envelope_from": "x", "ssl_enable": True, "start_tls_enable": True},
            "400-00023",
            "Envelope email address",
        ),
        # Exastro checks each field's length before whether authentication has a user and a password.
        (
            {"authentication_user": "", "authentication_password": "a" * 256},
            "400-00012",
            "Authentication password",
        ),
        # Its schema (JSON types) comes before every rule.
        ({"smtp_host": "", "reply_name": 1}, "400-00002", "reply_name"),
    ],
)
def test_with_several_fields_wrong_the_first_in_exastros_order_answers_and_errors_names_all(
    api, changes, result, named
):
    response = post(api, changed(UPDATE, **changes), "en")
    assert (response.json["result"], named in response.json["message"]) == (result, True), response.json
    errors = response.json["errors"]
    assert set(errors) == set(changes)
    assert all(errors.values())


@pytest.mark.parametrize(
    ("headers", "japanese"),
    [
        ({"Language": "ja"}, True),
        ({"Language": "ja-JP"}, True),
        ({"Language": "en", "Accept-Language": "ja"}, False),
        ({"Language": "fr", "Accept-Language": "ja"}, False),  # Exastro: English for all but ja
        ({"Accept-Language": "ja-JP,ja;q=0.9"}, True),
        ({"Accept-Language": "en"}, False),
        ({}, False),
    ],
)
def test_the_language_header_chooses_first_then_accept_language_then_english(api, headers, japanese):
    response = api.post(SETTINGS, json=changed(UPDATE, smtp_host=""), headers=headers)
    expected = (
        "必須項目が不足しています。(SMTPサーバーホスト)"
        if japanese
        else "Missing a required item. (SMTP Server Host)"
    )
    assert response.json["message"] == expected
    assert {"Language", "Accept-Language"} <= set(response.vary)


def test_bad_credentials_are_exastros_401_00002_and_a_non_admin_403_00001(client, admin, plain_user):
    wrong = client.get(SETTINGS, headers={**basic("admin", "wrong"), "Language": "ja"})
    assert (wrong.status_code, wrong.json["result"]) == (401, "401-00002")
    assert wrong.json["message"] == "ユーザー名またはパスワードが正しくありません。"
    missing = client.get(SETTINGS)
    assert (missing.status_code, missing.json["result"]) == (401, "401-00002")
    not_admin = client.get(SETTINGS, headers=basic("bob"))
    assert (not_admin.status_code, not_admin.json["result"]) == (403, "403-00001")


# Exastro's page: 000-88022 and 000-88008 of platform-commons/js/language/en/text.js, and the Japanese
# in settings_mailserver.js; the word our delete dialog asks to type.
AFTER_REGISTER_AND_DELETE = {
    "en": (
        "Registered SMTP server settings for email sending",
        "The email sending server settings have been deleted.",
        "Delete",
    ),
    "ja": ("メール送信サーバー設定を登録しました", "メール送信サーバー設定を削除しました。", "削除"),
}


@pytest.mark.parametrize("locale", AFTER_REGISTER_AND_DELETE)
def test_the_page_says_what_exastros_page_says_after_register_and_delete(client, auth, admin, locale):
    registered, deleted, word = AFTER_REGISTER_AND_DELETE[locale]
    auth.login()
    client.set_cookie("locale", locale)
    client.post(PAGE, data=VALID_SETTINGS)
    assert registered in client.get(PAGE).get_data(as_text=True)
    client.post(PAGE + "/delete", data={"confirmation": word, "dialog_locale": locale})
    assert deleted in client.get(PAGE).get_data(as_text=True)


def test_the_japanese_login_page_asks_forgot_your_password_as_exastro_and_keycloak_do(client, auth, admin):
    auth.login()
    client.post(PAGE, data=VALID_SETTINGS)
    auth.logout()
    client.set_cookie("locale", "ja")
    assert ">パスワードをお忘れですか？</a>" in client.get("/acme/login").get_data(as_text=True)
