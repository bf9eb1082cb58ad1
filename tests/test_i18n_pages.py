"""Every page in Japanese: no text a person sees is one of the product's English messages."""

import json
import re
from email.utils import make_msgid
from html.parser import HTMLParser

import pytest
from babel.messages.pofile import read_po

from exastro_mail.api_tokens.tokens import issue_token, revoke_token
from exastro_mail.build import TRANSLATIONS
from exastro_mail.logs.audit_trail import ACTION_LABELS
from exastro_mail.mailserver.store import save_settings
from exastro_mail.outbox import status
from exastro_mail.outbox.enqueue import open_body
from exastro_mail.outbox.worker import deliver_due
from exastro_mail.store.models import AuditEvent, OutboxMessage, User, utcnow
from tests.conftest import VALID_SETTINGS, build_app, make_org, make_user

SETTINGS_URL = "/acme/platform/settings/mailserver"
HTMX = {"HX-Request": "true"}
# Attributes whose text people see or hear (tooltips, screen readers, confirm boxes, messages for JS).
VISIBLE_ATTRIBUTES = {
    "title",
    "aria-label",
    "placeholder",
    "alt",
    "hx-confirm",
    "data-expired",
    "data-failed",
    "data-unreachable",
    "data-copied-text",
}
PLACEHOLDER = re.compile(r"%\(\w+\)[sdif]|\{\w+\}")


class VisibleText(HTMLParser):
    """The text nodes and visible attribute values of a page or fragment."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.texts: list[str] = []
        self._hidden_depth = 0

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style"):
            self._hidden_depth += 1
        for name, value in attrs:
            if value and (name in VISIBLE_ATTRIBUTES or (name == "value" and tag == "button")):
                self.texts.append(value)

    def handle_endtag(self, tag):
        if tag in ("script", "style"):
            self._hidden_depth -= 1

    def handle_data(self, data):
        if not self._hidden_depth and data.strip():
            self.texts.append(data)


def english_patterns() -> dict[str, re.Pattern]:
    """A pattern per English message whose Japanese differs: a single word must be the whole text,
    longer messages may sit inside one (their placeholders match anything)."""
    with open(TRANSLATIONS / "ja" / "LC_MESSAGES" / "messages.po", "rb") as handle:
        catalog = read_po(handle, locale="ja")
    patterns = {}
    for message in catalog:
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple | list) else (message.string,)
        for english in ids:
            if not english or not re.search("[A-Za-z]{2}", PLACEHOLDER.sub("", english)):
                continue
            if english in strings:  # brand or technical words, the same in Japanese (OK, API)
                continue
            if " " not in english and not PLACEHOLDER.search(english):
                patterns[english] = re.compile(re.escape(english.rstrip(":")))
                continue
            body = ".+?".join(re.escape(part) for part in PLACEHOLDER.split(english))
            start = r"(?<![A-Za-z])" if english[:1].isalpha() else ""
            end = r"(?![A-Za-z])" if english[-1:].isalpha() else ""
            patterns[english] = re.compile(start + body + end, re.S)
    return patterns


ENGLISH = english_patterns()


def english_left(html: str) -> list[str]:
    """The texts of a page that are, or contain, an English message of the product."""
    parser = VisibleText()
    parser.feed(html)
    found = []
    for raw in parser.texts:
        text = re.sub(r"\s+", " ", raw).strip()
        whole = text.strip(" :")
        for message, pattern in ENGLISH.items():
            single_word = " " not in message and not PLACEHOLDER.search(message)
            if pattern.fullmatch(whole) if single_word else pattern.search(text):
                found.append(f"{text!r} (English: {message!r})")
    return found


def test_the_check_finds_english_on_an_english_page(client, org):
    found = english_left(client.get("/acme/login").get_data(as_text=True))
    assert any("'Log in'" in problem for problem in found) and len(found) >= 4


@pytest.fixture
def japanese(client):
    client.set_cookie("locale", "ja")
    return client


def log_in(client, username):
    response = client.post("/acme/login", data={"username": username, "password": "correct horse battery"})
    assert response.status_code == 302, response.get_data(as_text=True)


def queue_mail(org, kind, state, **fields):
    return OutboxMessage.create(
        organization=org,
        kind=kind,
        recipients=json.dumps(
            {"to": ["ops@example.com"], "cc": ["cc@example.com"], "bcc": ["audit@example.com"]}
        ),
        subject="ディスク容量の警告",
        message_id=make_msgid(domain="example.com"),
        status=state,
        attempts=2,
        last_error="451 4.3.0 try again later" if state in (status.QUEUED, status.FAILED) else None,
        sent_at=utcnow() if state == status.SENT else None,
        **fields,
    )


def record_every_audit_action(org):
    details = {
        "fields": ["smtp_host", "authentication_password", "trusted_ca_pem"],
        "smtp_code": 535,
        "failed_step": "Name resolution",
        "message_id": 7,
        "notification_id": 8,
        "token_id": 9,
        "name": "バックアップ",
        "kind": "password_reset",
        "recipient": "ops@example.com",
        "result": "failed",
        "reply": "535 5.7.8 authentication failed",
        "tested": "unsaved values",
        "user": "bob",
        "account": "unknown",
        "mail": "not sent: rate limit",
        "via": "api",
        "to": 1,
        "cc": 0,
        "bcc": 2,
    }
    for action in ACTION_LABELS:
        AuditEvent.create(organization=org, actor="admin", action=action, detail=json.dumps(details))
    AuditEvent.create(
        organization=org,
        actor="admin",
        action="mail_server_settings.test_mail",
        detail=json.dumps({"result": "accepted", "tested": "saved settings", "mail": "queued"}),
    )


def pages_in_japanese(client, org, smtp_server, closed_port) -> dict[str, str]:
    """Every page (and fragment) of the product as the right user, in Japanese: {what: html}."""
    pages = {}

    def get(name, path, **options):
        response = client.get(path, **options)
        pages[name] = response.get_data(as_text=True)
        return response

    def post(name, path, data, **options):
        response = client.post(path, data=data, **options)
        pages[name] = response.get_data(as_text=True)
        return response

    get("login, no mail server", "/acme/login")
    get("404 without an organization", "/nobody/login")
    get("front page", "/")
    get("forgot password, no mail server", "/acme/forgot-password")
    log_in(client, "admin")
    get("menu of an administrator", "/acme/platform/")
    get("account", "/acme/platform/account")
    post("account, mistakes", "/acme/platform/account/password", {"current_password": "x", "password": "y"})
    post("account, bad time zone", "/acme/platform/account/preferences", {"locale": "ja", "time_zone": "x"})
    get("settings, none saved", SETTINGS_URL)
    post("settings with mistakes", SETTINGS_URL, {**VALID_SETTINGS, "smtp_host": "", "smtp_port": "465"})
    post(
        "test mail with mistakes",
        SETTINGS_URL + "/test-mail",
        {**VALID_SETTINGS, "send_from": "", "test_recipient": "nobody"},
    )
    server_form = {
        **VALID_SETTINGS,
        "smtp_host": smtp_server.host,
        "smtp_port": str(smtp_server.port),
        "encryption": "none",
        "authentication_enable": "",
        "test_recipient": "admin@example.com",
    }
    response = client.post(SETTINGS_URL, data=server_form, follow_redirects=True)
    pages["settings just registered"] = response.get_data(as_text=True)
    response = client.post(SETTINGS_URL + "/test-mail", data=server_form, follow_redirects=True)
    pages["test mail accepted, page"] = response.get_data(as_text=True)  # after the redirect (PRG)
    [test_mail] = smtp_server.wait_for(1)
    pages["test mail, as received"] = (
        f"<p>{test_mail.message['Subject']}</p><pre>{test_mail.message.get_content()}</pre>"
    )
    post(
        "test mail failed, fragment",
        SETTINGS_URL + "/test-mail",
        {**server_form, "smtp_port": str(closed_port)},
        headers={**HTMX, "HX-Target": "test-mail-result"},
    )
    get("settings after a failed test", SETTINGS_URL)
    get("delete dialog, page", SETTINGS_URL + "/delete")
    get("delete dialog, fragment", SETTINGS_URL + "/delete", headers={**HTMX, "HX-Target": "delete-dialog"})
    post(
        "delete dialog, wrong word",
        SETTINGS_URL + "/delete",
        {"confirmation": "Delete", "dialog_locale": "ja"},
    )

    for kind, state in [
        ("password_reset", status.QUEUED),
        ("password_changed", status.SENDING),
        ("notification", status.SENT),
        ("notification", status.FAILED),
        ("password_reset", status.EXPIRED),
        ("notification", status.DISCARDED),
    ]:
        queue_mail(org, kind, state)
    get("delivery log", "/acme/platform/mail-log")
    get("delivery log, none of a status", "/acme/platform/mail-log?status=expired&page=1")
    for _ in range(26):
        queue_mail(org, "notification", status.SENT)
    get(
        "delivery log, second page, fragment",
        "/acme/platform/mail-log?page=2",
        headers={"HX-Target": "mail-log"},
    )
    failed = OutboxMessage.get(OutboxMessage.status == status.FAILED)
    response = client.post(f"/acme/platform/mail-log/{failed.id}/retry", follow_redirects=True)
    pages["delivery log after a retry"] = response.get_data(as_text=True)
    post(
        "delivery log, refused discard, fragment",
        f"/acme/platform/mail-log/{OutboxMessage.get(OutboxMessage.status == status.SENT).id}/discard",
        {},
        headers={"HX-Target": "mail-log"},
    )

    admin = make_user(org, "tokenmaker", admin=True)
    _used, secret = issue_token(org, admin, "監視アラート")
    revoked, _ = issue_token(org, admin, "古いトークン")
    revoke_token(revoked, "admin")
    client.get("/api/acme/platform/settings/mailserver", headers={"Authorization": f"Bearer {secret}"})
    get("API tokens", "/acme/platform/api-tokens")
    tokens_url = "/acme/platform/api-tokens"
    post("API token just created", tokens_url, {"name": "バックアップ"}, follow_redirects=True)
    get("API token shown already", "/acme/platform/api-tokens?shown=gone")
    post("API token of a taken name", "/acme/platform/api-tokens", {"name": "バックアップ"})
    post("API token without a name", "/acme/platform/api-tokens", {"name": ""})
    get("revoke dialog, page", f"/acme/platform/api-tokens/{_used.id}/revoke")
    get(
        "revoke dialog, fragment",
        f"/acme/platform/api-tokens/{_used.id}/revoke",
        headers={**HTMX, "HX-Target": "revoke-dialog"},
    )
    get("revoke dialog of a revoked token", f"/acme/platform/api-tokens/{revoked.id}/revoke")
    response = client.post(f"/acme/platform/api-tokens/{_used.id}/revoke", follow_redirects=True)
    pages["API tokens after a revocation"] = response.get_data(as_text=True)

    record_every_audit_action(org)
    get("audit log", "/acme/platform/audit-log")
    get("404 in an organization", "/acme/platform/no-such-page")
    get("405", "/acme/logout")

    client.post("/acme/logout")
    get("login, mail server registered", "/acme/login")
    get("forgot password", "/acme/forgot-password")
    post("forgot password, nothing typed", "/acme/forgot-password", {"identifier": ""})
    User.update(locale="ja").where(User.username == "bob").execute()
    post("forgot password, sent", "/acme/forgot-password", {"identifier": "bob"})
    deliver_due(client.application)  # the worker writes the mail and sends it to the test server
    received = smtp_server.wait_for(2)
    reset_mail = next(mail.message for mail in received if mail.recipients == ["bob@example.com"])
    reset_text = reset_mail.get_body(("plain",)).get_content()
    pages["reset mail, subject"] = f"<p>{reset_mail['Subject']}</p>"
    pages["reset mail, text"] = f"<pre>{reset_text}</pre>"
    pages["reset mail, html"] = reset_mail.get_body(("html",)).get_content()
    link = re.search(r"/acme/reset-password/[\w-]+", reset_text).group(0)
    response = client.get(link, follow_redirects=True)
    pages["reset password"] = response.get_data(as_text=True)
    post("reset password, mistakes", "/acme/reset-password", {"password": "short", "confirmation": "other"})
    post(
        "reset password, different entries",
        "/acme/reset-password",
        {"password": "a long new passphrase", "confirmation": "another passphrase"},
    )
    response = client.post(
        "/acme/reset-password",
        data={"password": "a long new passphrase", "confirmation": "a long new passphrase"},
        follow_redirects=True,
    )
    pages["login after a reset"] = response.get_data(as_text=True)
    changed_mail = OutboxMessage.select().order_by(OutboxMessage.id.desc()).get()
    pages["password changed mail, subject"] = f"<p>{changed_mail.subject}</p>"
    pages["password changed mail, text"] = f"<pre>{open_body(changed_mail.body_text)}</pre>"
    pages["password changed mail, html"] = open_body(changed_mail.body_html)
    get("invalid reset link", "/acme/reset-password/not-a-token")

    response = client.post("/acme/login", data={"username": "bob", "password": "a long new passphrase"})
    assert response.status_code == 302
    get("menu of a user", "/acme/platform/")
    get("403", SETTINGS_URL)
    User.update(must_change_password=True).where(User.username == "bob").execute()
    get("forced password change", "/acme/platform/account/password")
    client.post("/acme/logout")
    get("logged out", "/acme/login")
    return pages


def test_every_page_in_japanese_mode_has_no_english_message(
    japanese, org, admin, plain_user, smtp_server, closed_port
):
    pages = pages_in_japanese(japanese, org, smtp_server, closed_port)
    assert len(pages) >= 30
    english = {name: found for name, html in pages.items() if (found := english_left(html))}
    assert english == {}
    not_japanese = [
        name for name, html in pages.items() if "<html" in html and '<html lang="ja">' not in html
    ]
    assert not_japanese == []
    # The pages really are the ones meant, not an error page standing in for each.
    assert "名前解決" in pages["test mail accepted, page"]
    assert "ACME Corp からのテストメール" in pages["test mail, as received"]
    assert "ヒント:" in pages["test mail failed, fragment"]
    assert "監視アラート" in pages["API tokens"] and "設定削除" in pages["settings just registered"]
    assert "パスワードをお忘れですか？" in pages["login, mail server registered"]
    assert "このページを開く権限がありません。" in pages["403"]
    assert "新しいパスワードの設定" in pages["reset password"]
    assert "2 つのパスワードが一致しません。" in pages["reset password, different entries"]
    assert "ACME Corp のパスワード再設定" in pages["reset mail, subject"]
    assert "30 分" in pages["reset mail, text"]
    assert "パスワードを変更しました。" in pages["login after a reset"]
    assert "現在のパスワードが正しくありません。" in pages["account, mistakes"]
    assert "ご自身のパスワードを設定してください" in pages["forced password change"]
    assert "ログアウトしました。" in pages["logged out"]
    assert "再表示はできません" in pages["API token shown already"]
    assert "メールによるパスワード再設定は利用できません" in pages["forgot password, no mail server"]


def test_the_pages_of_an_install_without_base_url_and_of_too_many_requests_in_japanese(tmp_path):
    app = build_app(tmp_path, BASE_URL=None, LOGIN_LIMIT_PER_CLIENT="1 per 5 minutes")
    with app.app_context():
        save_settings(
            make_org(), {**VALID_SETTINGS, "smtp_port": 587, "authentication_enable": False}, "admin"
        )
    client = app.test_client()
    client.set_cookie("locale", "ja")
    unavailable = client.get("/acme/forgot-password").get_data(as_text=True)
    for _ in range(2):
        too_many = client.post("/acme/login", data={"username": "nobody", "password": "wrong password"})
    assert too_many.status_code == 429
    too_many = too_many.get_data(as_text=True)
    assert english_left(unavailable) == [] and "EXASTRO_MAIL_BASE_URL" in unavailable
    assert english_left(too_many) == [] and "リクエストが多すぎます。" in too_many
