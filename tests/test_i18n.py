"""English and Japanese: complete catalogs, the language a person gets, local times, and the delete word."""

import base64
import gettext
import json
import re
from datetime import datetime
from email.message import EmailMessage
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

from exastro_mail.build import TRANSLATIONS, compile_catalogs
from exastro_mail.config import ConfigError
from exastro_mail.store.models import AuditEvent, MailServerSettings, User
from tests.conftest import VALID_SETTINGS, build_app, csrf_token_from, make_org, make_user
from tests.outbox_helpers import deliver, point_settings_at

ROOT = Path(__file__).resolve().parent.parent
JA_PO = TRANSLATIONS / "ja" / "LC_MESSAGES" / "messages.po"
KEYWORDS = {**DEFAULT_KEYWORDS, "_l": None}  # _l is flask_babel.lazy_gettext, as babel.cfg says
SETTINGS_URL = "/acme/platform/settings/mailserver"
DELETE_URL = SETTINGS_URL + "/delete"
JAPANESE = {"Accept-Language": "ja-JP,ja;q=0.9,en;q=0.5"}


def extracted_messages() -> dict[str, str]:
    """Every message the code and templates mark for translation, with where it is used."""
    with open(ROOT / "babel.cfg") as handle:
        method_map, options_map = parse_mapping_cfg(handle)
    messages = {}
    for filename, lineno, message, _comments, _context in extract_from_dir(
        ROOT, method_map, options_map, keywords=KEYWORDS
    ):
        key = forms(message)[0]  # a plural is kept by its singular
        if key:
            messages.setdefault(key, f"{filename}:{lineno}")
    return messages


def ja_catalog():
    with open(JA_PO, "rb") as handle:
        return read_po(handle, locale="ja")


def placeholders(text: str) -> tuple[list[str], list[str]]:
    """The %(name)s and {name} placeholders of a message, sorted."""
    printf_style = re.findall(r"%\(\w+\)[-#0 +]*\d*(?:\.\d+)?[sdifr]", text)
    return sorted(printf_style), sorted(re.findall(r"{\w+}", text))


def forms(text) -> tuple:
    """The forms of a message id or translation: one, or singular and plurals."""
    return tuple(text) if isinstance(text, tuple | list) else (text,)


def placeholder_problems(catalog) -> list[str]:
    """Translations whose placeholders differ from those of their message (each plural form too)."""
    return [
        f"{message.id!r} -> {message.string!r}"
        for message in catalog
        if message.id
        for translated in forms(message.string)
        if translated and placeholders(translated) != placeholders(forms(message.id)[-1])
    ]


def text_of(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


# The catalogs


def test_every_message_in_the_code_and_templates_has_a_japanese_translation():
    messages = extracted_messages()
    assert len(messages) > 250  # the extraction really found the product's messages
    catalog = ja_catalog()
    missing = [f"{where}: {text!r}" for text, where in messages.items() if text not in catalog]
    untranslated = [
        f"{messages[forms(m.id)[0]]}: {m.id!r}"
        for m in catalog
        if forms(m.id)[0] in messages and not all(forms(m.string))
    ]
    fuzzy = [repr(m.id) for m in catalog if m.id and m.fuzzy]
    assert missing == [], "not in the Japanese catalog (see babel.cfg to update it):\n" + "\n".join(missing)
    assert untranslated == [], "empty Japanese translations:\n" + "\n".join(untranslated)
    assert fuzzy == [], "fuzzy Japanese translations:\n" + "\n".join(fuzzy)


def test_no_translation_drops_or_changes_a_placeholder():
    assert placeholder_problems(ja_catalog()) == []
    assert [str(error) for _message, errors in ja_catalog().check() for error in errors] == []


def test_the_placeholder_check_catches_a_dropped_or_renamed_placeholder():
    catalog = Catalog(locale="ja")
    catalog.add("Log in", "ログイン")
    catalog.add("Log in to %(organization)s", "%(org)s にログイン")
    catalog.add("The request failed ({status}). Reload the page and try again.", "リクエストが失敗しました。")
    catalog.add("Use at most %(max)d characters.", "%(max)s 文字以内で入力してください。")
    assert len(placeholder_problems(catalog)) == 3


def test_the_japanese_labels_follow_the_exastro_platform():
    strings = {message.id: message.string for message in ja_catalog() if message.id}
    assert {
        "Mail sending server settings": "メール送信サーバー設定",
        "SMTP server host": "SMTPサーバーホスト",
        "Encryption method": "暗号化方式",
        "SMTP server port": "SMTPサーバーポート",
        "With authentication": "認証あり",
        "Authentication user": "認証ユーザー",
        "Authentication password": "認証パスワード",
        "Source mail address (From)": "送信元メールアドレス(From)",
        "Source display name": "送信元表示名",
        "Reply mail address (Reply-to)": "返信先メールアドレス(Reply-To)",
        "Reply display name": "返信先表示名",
        "Sender mail address (Envelope-From)": "差出人メールアドレス(Envelope-From)",
        "Register": "登録",
        "Delete settings": "設定削除",
        "Yes, delete": "はい、削除します",
    }.items() <= strings.items()


def test_the_build_hook_compiles_the_catalogs(tmp_path):
    [compiled] = compile_catalogs(TRANSLATIONS, tmp_path)
    assert compiled == tmp_path / "ja" / "LC_MESSAGES" / "messages.mo"
    with open(compiled, "rb") as handle:
        assert gettext.GNUTranslations(handle).gettext("Log in") == "ログイン"


def test_the_installed_catalog_is_compiled_from_the_current_po():
    """pip install (editable or not) compiles the catalogs; after editing a .po, install again."""
    with open(TRANSLATIONS / "ja" / "LC_MESSAGES" / "messages.mo", "rb") as handle:
        compiled = {forms(m.id)[0]: forms(m.string) for m in read_mo(handle) if m.id}
    source = {forms(m.id)[0]: forms(m.string) for m in ja_catalog() if m.id and all(forms(m.string))}
    assert compiled == source, "the .mo is older than the .po: run `pip install -e .` to compile it"


# Which language a person gets


@pytest.fixture
def admin(org):
    return make_user(org, "admin", admin=True)


def test_english_is_the_default(client, org):
    html = client.get("/acme/login").get_data(as_text=True)
    assert '<html lang="en">' in html and "Log in to ACME Corp" in html


def test_the_browser_language_comes_next(client, org):
    html = client.get("/acme/login", headers=JAPANESE).get_data(as_text=True)
    assert '<html lang="ja">' in html and "ACME Corp にログイン" in html
    html = client.get("/acme/login", headers={"Accept-Language": "fr-FR, en;q=0.3"}).get_data(as_text=True)
    assert "Log in to ACME Corp" in html


def test_the_chosen_language_beats_the_browser_language(client, org):
    client.set_cookie("locale", "en")
    assert "Log in to ACME Corp" in client.get("/acme/login", headers=JAPANESE).get_data(as_text=True)
    client.set_cookie("locale", "ja")
    assert "ACME Corp にログイン" in client.get("/acme/login").get_data(as_text=True)
    client.set_cookie("locale", "xx")  # an unknown choice is ignored
    assert "Log in to ACME Corp" in client.get("/acme/login").get_data(as_text=True)


def test_the_install_default_comes_last(tmp_path):
    app = build_app(tmp_path, DEFAULT_LOCALE="ja")
    make_org()
    client = app.test_client()
    assert "ACME Corp にログイン" in client.get("/acme/login").get_data(as_text=True)
    html = client.get("/acme/login", headers={"Accept-Language": "de"}).get_data(as_text=True)
    assert "ACME Corp にログイン" in html
    html = client.get("/acme/login", headers={"Accept-Language": "en-GB"}).get_data(as_text=True)
    assert "Log in to ACME Corp" in html


def test_an_unknown_install_default_stops_the_start(tmp_path):
    with pytest.raises(ConfigError, match="EXASTRO_MAIL_DEFAULT_LOCALE"):
        build_app(tmp_path, DEFAULT_LOCALE="fr")


def test_the_selector_works_without_javascript_and_is_remembered_for_the_user(tmp_path):
    app = build_app(tmp_path, WTF_CSRF_ENABLED=True)
    with app.app_context():
        admin = make_user(make_org(), "admin", admin=True)
    # No app context held around the requests: two browsers must not share Flask's g (CSRF tokens).
    client = app.test_client()
    page = client.get("/acme/login").get_data(as_text=True)
    form = re.search(r'<form method="post" action="/language".*?</form>', page, re.S).group(0)
    assert re.findall(r'name="locale" value="(\w+)"', form) == ["en", "ja"]
    assert 'name="next" value="/acme/login"' in form
    token = csrf_token_from(page)

    response = client.post("/language", data={"csrf_token": token, "locale": "ja", "next": "/acme/login"})
    assert response.status_code == 303 and response.headers["Location"] == "/acme/login"
    assert "ACME Corp にログイン" in client.get("/acme/login").get_data(as_text=True)

    client.post(
        "/acme/login",
        data={"csrf_token": token, "username": "admin", "password": "correct horse battery"},
    )
    menu = client.get("/acme/platform/")
    token = csrf_token_from(menu.get_data(as_text=True))
    client.post("/language", data={"csrf_token": token, "locale": "ja", "next": "/acme/platform/"})
    with app.app_context():
        assert User.get_by_id(admin.id).locale == "ja"

    # Another browser, with no choice of its own and an English Accept-Language: the saved choice.
    other = app.test_client()
    page = other.get("/acme/login", headers={"Accept-Language": "en"}).get_data(as_text=True)
    other.post(
        "/acme/login",
        data={
            "csrf_token": csrf_token_from(page),
            "username": "admin",
            "password": "correct horse battery",
        },
    )
    html = other.get("/acme/platform/", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "メール送信サーバー設定" in html


def test_choosing_a_language_is_a_post_with_csrf_that_stays_on_this_site(tmp_path):
    app = build_app(tmp_path, WTF_CSRF_ENABLED=True)
    with app.app_context():
        make_org()
        client = app.test_client()
        response = client.get("/language?locale=ja", follow_redirects=True)  # a GET changes nothing
        assert response.status_code == 404 and "Log in to ACME Corp" in client.get("/acme/login").get_data(
            as_text=True
        )
        assert client.post("/language", data={"locale": "ja", "next": "/acme/login"}).status_code == 400
        token = csrf_token_from(client.get("/acme/login").get_data(as_text=True))
        assert client.post("/language", data={"csrf_token": token, "locale": "xx"}).status_code == 400
        for target in ("https://evil.example/", "//evil.example/", "/\\evil.example"):
            response = client.post("/language", data={"csrf_token": token, "locale": "ja", "next": target})
            assert response.status_code == 303 and response.headers["Location"] == "/"
        assert "locale=ja" in response.headers["Set-Cookie"] and "HttpOnly" in response.headers["Set-Cookie"]


def test_a_page_that_answered_a_form_returns_to_that_form(client, auth, admin):
    auth.login()
    response = client.post(SETTINGS_URL, data={**VALID_SETTINGS, "smtp_host": ""})
    assert response.status_code == 422
    assert f'name="next" value="{SETTINGS_URL}"' in response.get_data(as_text=True)
    # Send test mail answers a POST-only address: back to the page the form was on.
    response = client.post(
        SETTINGS_URL + "/test-mail",
        data={**VALID_SETTINGS, "smtp_host": ""},
        headers={"Referer": f"http://localhost{SETTINGS_URL}"},
    )
    assert response.status_code == 422
    assert f'name="next" value="{SETTINGS_URL}"' in response.get_data(as_text=True)
    response = client.post(
        SETTINGS_URL + "/test-mail",
        data={**VALID_SETTINGS, "smtp_host": ""},
        headers={"Referer": "https://evil.example/acme/platform/"},
    )
    assert 'name="next" value=""' in response.get_data(as_text=True)


def test_the_api_speaks_the_callers_language_and_ignores_cookies(client, admin):
    credentials = {"Authorization": "Basic " + base64.b64encode(b"admin:wrong password").decode()}
    response = client.get("/api/acme/platform/settings/mailserver", headers={**credentials, **JAPANESE})
    assert response.status_code == 401
    assert response.json["message"] == "ユーザー名またはパスワードが正しくありません。"
    client.set_cookie("locale", "ja")
    response = client.get("/api/acme/platform/settings/mailserver", headers=credentials)
    assert response.json["message"] == "The username or password is incorrect."


def test_field_errors_are_in_the_chosen_language(client, auth, admin):
    auth.login()
    client.set_cookie("locale", "ja")
    html = client.post(
        SETTINGS_URL, data={**VALID_SETTINGS, "smtp_host": "smtp://mail.example.com"}
    ).get_data(as_text=True)
    assert "smtp:// などのスキームを付けず、ホスト名だけを入力してください。" in html
    assert "確認が必要な項目があります。何も保存されていません。" in html


# Local times


def test_times_are_shown_in_the_browsers_time_zone_and_language(client, auth, admin, org):
    AuditEvent.create(
        organization=org, actor="robot", action="login", created_at=datetime(2026, 1, 2, 15, 4, 5)
    )
    auth.login()
    html = client.get("/acme/platform/audit-log").get_data(as_text=True)
    assert re.search(r'<time datetime="2026-01-02T15:04:05Z">Jan 2, 2026, 3:04:05\sPM UTC</time>', html)
    client.set_cookie("timezone", "Asia/Tokyo")
    client.set_cookie("locale", "ja")
    html = client.get("/acme/platform/audit-log").get_data(as_text=True)
    assert '<time datetime="2026-01-02T15:04:05Z">2026/01/03 0:04:05 JST</time>' in html
    client.set_cookie("timezone", "Not/AZone")  # an unknown zone is ignored: UTC, never an error
    assert "2026/01/02 15:04:05 UTC" in client.get("/acme/platform/audit-log").get_data(as_text=True)


# The delete dialog's word


@pytest.fixture
def admin_with_settings(client, auth, admin):
    auth.login()
    client.post(SETTINGS_URL, data=VALID_SETTINGS)
    return client


def test_the_japanese_dialog_asks_for_sakujo(admin_with_settings):
    client = admin_with_settings
    client.set_cookie("locale", "ja")
    html = client.get(DELETE_URL).get_data(as_text=True)
    assert 'data-confirm-word="削除"' in html and 'name="dialog_locale" type="hidden" value="ja"' in html
    assert "確認のため「<kbd>削除</kbd>」と入力してください。" in html and "はい、削除します" in html

    response = client.post(DELETE_URL, data={"confirmation": "Delete", "dialog_locale": "ja"})
    assert response.status_code == 422 and MailServerSettings.select().count() == 1
    assert "設定を削除するには「削除」と正確に入力してください。" in response.get_data(as_text=True)

    response = client.post(DELETE_URL, data={"confirmation": "削除", "dialog_locale": "ja"})
    assert response.status_code == 303 and MailServerSettings.select().count() == 0
    assert "メール送信サーバー設定を削除しました。" in text_of(
        client.get(SETTINGS_URL).get_data(as_text=True)
    )


def test_the_server_checks_the_word_the_dialog_asked_for(admin_with_settings):
    client = admin_with_settings
    html = client.get(DELETE_URL).get_data(as_text=True)
    assert 'data-confirm-word="Delete"' in html and 'name="dialog_locale" type="hidden" value="en"' in html
    client.set_cookie("locale", "ja")  # switched in another tab while the English dialog was open
    response = client.post(DELETE_URL, data={"confirmation": "削除", "dialog_locale": "en"})
    assert response.status_code == 422 and MailServerSettings.select().count() == 1
    response = client.post(DELETE_URL, data={"confirmation": "Delete", "dialog_locale": "en"})
    assert response.status_code == 303 and MailServerSettings.select().count() == 0


@pytest.mark.parametrize("dialog_locale", [None, "xx"])
def test_without_a_known_dialog_language_the_pages_language_decides(admin_with_settings, dialog_locale):
    client = admin_with_settings
    client.set_cookie("locale", "ja")
    data = {"confirmation": "Delete"} | ({"dialog_locale": dialog_locale} if dialog_locale else {})
    assert client.post(DELETE_URL, data=data).status_code == 422
    data["confirmation"] = "削除"
    assert client.post(DELETE_URL, data=data).status_code == 303


def test_audit_details_are_shown_in_the_readers_language(client, auth, admin, org):
    AuditEvent.create(
        organization=org,
        actor="admin",
        action="mail_server_settings.test_mail",
        detail=json.dumps({"result": "failed", "failed_step": "TCP connect", "tested": "saved settings"}),
    )
    AuditEvent.create(
        organization=org,
        actor="admin",
        action="mail_server_settings.changed",
        detail=json.dumps({"fields": ["smtp_host", "authentication_password"]}),
    )
    auth.login()
    client.set_cookie("locale", "ja")
    text = text_of(client.get("/acme/platform/audit-log").get_data(as_text=True))
    assert "テストメール送信" in text and "結果: 失敗" in text and "失敗した段階: TCP 接続" in text
    assert "テスト対象: 保存済みの設定" in text
    assert "項目: SMTPサーバーホスト、認証パスワード" in text


# Mails


def reset_mails_for(app, smtp_server, *usernames, page="ja") -> dict[str, EmailMessage]:
    """Ask for reset links from a browser showing the page in that language (None: as it comes); the
    mail each user received."""
    client = app.test_client()
    if page:
        client.set_cookie("locale", page)
    for username in usernames:
        assert client.post("/acme/forgot-password", data={"identifier": username}).status_code == 200
    deliver(app)
    received = smtp_server.wait_for(len(usernames))
    return {username: mail.message for username in usernames for mail in received
            if mail.recipients == [f"{username}@example.com"]}  # fmt: skip


def text_and_html(message: EmailMessage) -> tuple[str, str]:
    return message.get_body(("plain",)).get_content(), message.get_body(("html",)).get_content()


def registered_org(app, smtp_server):
    organization = make_org()
    point_settings_at(app, organization, smtp_server)
    return organization


def test_mails_go_out_in_the_recipients_saved_language(tmp_path, smtp_server):
    app = build_app(tmp_path)
    with app.app_context():
        organization = registered_org(app, smtp_server)
        make_user(organization, "kenji")
        make_user(organization, "emma")
        User.update(locale="ja").where(User.username == "kenji").execute()
        User.update(locale="en").where(User.username == "emma").execute()
    # A saved language wins over the page's (tests/test_password_reset.py: without one, the page's).
    mails = reset_mails_for(app, smtp_server, "kenji", "emma")
    kenji_text, kenji_html = text_and_html(mails["kenji"])
    assert mails["kenji"]["Subject"] == "ACME Corp のパスワード再設定"
    assert "30 分 以内に次のリンクを開いてください" in kenji_text
    assert '<html lang="ja">' in kenji_html
    assert mails["emma"]["Subject"] == "Reset your password for ACME Corp"
    assert "open this link within 30 minutes" in text_and_html(mails["emma"])[0]


def test_without_a_saved_language_mails_follow_the_install_default(tmp_path, smtp_server):
    app = build_app(tmp_path, DEFAULT_LOCALE="ja")
    with app.app_context():
        make_user(registered_org(app, smtp_server), "emma")
    mail = reset_mails_for(app, smtp_server, "emma", page=None)["emma"]
    assert mail["Subject"] == "ACME Corp のパスワード再設定"
    assert "emma 様" in text_and_html(mail)[0]
