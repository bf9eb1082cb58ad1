"""Exastro's words: the message of each validation code in English and Japanese, the first field at
fault in Exastro's order of checks, Exastro's Language header, and the page's register and delete
messages. English texts are Exastro's with its copy-paste slips fixed (docs/api.md lists them)."""

import pytest

from tests.api_helpers import SETTINGS, basic
from tests.conftest import VALID_SETTINGS
from tests.exastro_bodies import UPDATE, changed, post

PAGE = "/acme/platform/settings/mailserver"
TOO_LONG_EN = (
    "The number of characters that can be specified has been exceeded. "
    "(item: {}, maximum number of characters: {})"
)
TOO_LONG_JA = "指定可能な文字数を超えています。(項目:{},最大文字数:{})"
PORT_RANGE_EN = (
    "Value is less than the minimum value or greater than the maximum value. "
    "(Item: SMTP Server Port, Target value: 65536, Minimum value: 1, Maximum value: 65535)"
)
PORT_RANGE_JA = (
    "数値が最小値より小さいまたは最大値より大きな値となっています。"
    "(項目:SMTPサーバーポート,対象の値:65536,最小値:1,最大値:65535)"
)
AUTHENTICATION_EN = "Authentication user and password are required to enable authentication."
AUTHENTICATION_JA = "認証を有効にする場合、認証ユーザーおよび認証パスワードは必須となります。"

# Each starts from Exastro's own update body (tests/data/exastro/test_data.json).
CASES = [
    (
        {"smtp_host": ""},
        "400-00011",
        "Missing a required item. (SMTP Server Host)",
        "必須項目が不足しています。(SMTPサーバーホスト)",
    ),
    (
        {"smtp_host": "t" * 1025},
        "400-00012",
        TOO_LONG_EN.format("SMTP Server Host", 253),
        TOO_LONG_JA.format("SMTPサーバーホスト", 253),
    ),
    (
        {"smtp_host": "test_example.com"},
        "400-00028",
        "There is an error in the format of the host. (SMTP Server Host)",
        "ホストの形式に誤りがあります。(SMTPサーバーホスト)",
    ),
    (
        {"smtp_port": ""},
        "400-00011",
        "Missing a required item. (Sending server port number)",  # Exastro's English: "SMTP Server Host"
        "必須項目が不足しています。(送信サーバーポート番号)",
    ),
    (
        {"smtp_port": "a"},
        "400-00029",
        "Numeric conversion failed. (Item: SMTP Server Port, Target value: a)",
        "数値の変換に失敗しました。(項目:SMTPサーバーポート,対象の値:a)",
    ),
    ({"smtp_port": "65536"}, "400-00030", PORT_RANGE_EN, PORT_RANGE_JA),
    (
        {"send_from": ""},
        "400-00011",
        "Missing a required item. (Sender email address)",
        "必須項目が不足しています。(送信元メールアドレス)",
    ),
    (
        {"send_from": "test@@example.com"},
        "400-00023",
        "There is an error in the format of the email address. (Sender email address)",
        "メールアドレスの形式に誤りがあります。(送信元メールアドレス)",
    ),
    (
        {"send_name": "a" * 101},
        "400-00012",
        TOO_LONG_EN.format("Sender display name", 100),
        TOO_LONG_JA.format("送信元表示名", 100),
    ),
    (
        {"reply_to": "test@@example.com"},
        "400-00023",
        "There is an error in the format of the email address. (Reply email address)",
        "メールアドレスの形式に誤りがあります。(返信先メールアドレス)",
    ),
    (
        {"reply_name": "a" * 101},
        "400-00012",
        TOO_LONG_EN.format("Reply-to display name", 100),
        TOO_LONG_JA.format("返信先表示名", 100),
    ),
    (
        {"envelope_from": "test@@example.com"},
        "400-00023",
        "There is an error in the format of the email address. (Envelope email address)",
        "メールアドレスの形式に誤りがあります。(差出人メールアドレス)",
    ),
    (
        {"ssl_enable": True, "start_tls_enable": True},
        "400-00031",
        "SSL and StartTLS cannot be enabled simultaneously.",
        "SSLおよびStartTLSを同時に有効にすることはできません。",
    ),
    (
        {"authentication_user": "a" * 256},
        "400-00012",
        TOO_LONG_EN.format("Authentication user", 255),
        TOO_LONG_JA.format("認証ユーザー", 255),
    ),
    (
        {"authentication_password": "a" * 256},
        "400-00012",
        TOO_LONG_EN.format("Authentication password", 255),
        TOO_LONG_JA.format("認証パスワード", 255),
    ),
    ({"authentication_user": ""}, "400-00032", AUTHENTICATION_EN, AUTHENTICATION_JA),
    ({"authentication_password": None}, "400-00032", AUTHENTICATION_EN, AUTHENTICATION_JA),
    (
        {"smtp_host": 1},
        "400-00002",
        "Request body parameter (smtp_host) is invalid.",
        "リクエストボディのパラメータ(smtp_host)が不正です。",
    ),
    (
        {"reply_name": "line\nbreak"},
        "400-00013",
        "Contains characters that cannot be specified. "
        "(Item: Reply-to display name, Characters that cannot be specified: U+000A)",
        "指定できない文字が含まれています。(項目:返信先表示名,指定できない文字:U+000A)",
    ),
]


@pytest.mark.parametrize(("changes", "result", "english", "japanese"), CASES)
def test_each_rule_answers_exastros_code_and_message_in_both_languages(
    api, changes, result, english, japanese
):
    body = changed(UPDATE, **changes)
    for language, message in (("en", english), ("ja", japanese)):
        response = post(api, body, language)
        assert response.status_code == 400
        assert (response.json["result"], response.json["message"]) == (result, message)
        assert set(response.json["errors"]) >= set(changes)


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


@pytest.mark.parametrize(
    ("locale", "registered", "deleted", "word"),
    [
        (
            "en",
            "Registered SMTP server settings for email sending",
            "The email sending server settings have been deleted.",
            "Delete",
        ),
        ("ja", "メール送信サーバー設定を登録しました", "メール送信サーバー設定を削除しました。", "削除"),
    ],
)
def test_the_page_says_what_exastros_page_says_after_register_and_delete(
    client, auth, admin, locale, registered, deleted, word
):
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
