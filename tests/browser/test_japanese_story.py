"""The settings story in Japanese in a real browser: choose 日本語, register, log out, delete with 削除."""

import re

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

PASSWORD = "correct horse battery"


def assert_no_console_problems(page, expected_statuses=()):
    """No console error or CSP report, apart from Chrome's note on statuses the test provoked."""
    expected = tuple(f"the server responded with a status of {status}" for status in expected_statuses)
    problems = [text for text in page.console_problems if not (expected and any(e in text for e in expected))]
    assert problems == [], problems


def log_in(page, server):
    page.goto(f"{server.org_url}/login")
    page.get_by_label("ユーザー名").fill("admin")
    page.get_by_label("パスワード", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="ログイン").click()
    expect(page).to_have_url(f"{server.org_url}/platform/")


def test_register_and_delete_settings_in_japanese(page, live_server):
    server = live_server
    page.goto(f"{server.org_url}/login")
    # The browser says en-US.
    expect(page.get_by_role("heading", name=f"Log in to {server.org_name}")).to_be_visible()
    page.get_by_role("button", name="日本語").click()
    expect(page.get_by_role("heading", name=f"{server.org_name} にログイン")).to_be_visible()
    expect(page.locator("html")).to_have_attribute("lang", "ja")

    log_in(page, server)
    page.get_by_role("link", name="メール送信サーバー設定").click()
    expect(page.get_by_role("heading", name="メール送信サーバー設定")).to_be_visible()
    expect(page.get_by_role("link", name="設定削除")).to_have_count(0)

    expect(page.get_by_label("認証ユーザー")).to_be_hidden()
    page.get_by_label("認証あり").check()
    expect(page.get_by_label("認証ユーザー")).to_be_visible()
    page.get_by_label("STARTTLS").check()
    expect(page.get_by_label("SMTPサーバーポート")).to_have_value("587")
    page.get_by_label("SMTPサーバーホスト").fill("smtp://smtp.example.com")
    page.get_by_label("認証ユーザー").fill("mailer")
    page.get_by_label("認証パスワード").fill("s3cret-SMTP-pass")
    page.get_by_label("送信元メールアドレス(From)").fill("noreply@example.com")
    page.get_by_role("button", name="登録").click()
    expect(page.locator("#smtp_host-error")).to_have_text(
        "smtp:// などのスキームを付けず、ホスト名だけを入力してください。"
    )
    page.get_by_label("SMTPサーバーホスト").fill("smtp.example.com")
    page.get_by_label("認証パスワード").fill("s3cret-SMTP-pass")
    page.get_by_role("button", name="登録").click()
    expect(page.get_by_text("メール送信サーバー設定を登録しました")).to_be_visible()

    page.get_by_role("button", name="ログアウト").click()
    expect(page.get_by_role("heading", name=f"{server.org_name} にログイン")).to_be_visible()
    expect(page.get_by_role("link", name="パスワードをお忘れですか？")).to_be_visible()

    log_in(page, server)
    # Times are in the browser's time zone (Asia/Tokyo for this browser), in Japanese.
    page.get_by_role("link", name="監査ログ").click()
    expect(page.locator("#audit-log-table time").first).to_have_text(
        re.compile(r"^\d{4}/\d\d/\d\d \d+:\d\d:\d\d JST$")
    )

    page.goto(f"{server.org_url}/platform/settings/mailserver")
    page.get_by_role("link", name="設定削除").click()
    dialog = page.locator("dialog#delete-dialog")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("削除した設定は元に戻せません。")
    confirmation = dialog.get_by_label("確認のため「削除」と入力してください。")
    expect(confirmation).to_be_focused()
    yes = dialog.get_by_role("button", name="はい、削除します")
    expect(yes).to_be_disabled()
    confirmation.fill("Delete")  # the English word does not open the Japanese dialog's door
    expect(yes).to_be_disabled()
    confirmation.fill("削除")
    expect(yes).to_be_enabled()
    yes.click()
    expect(page.get_by_text("メール送信サーバー設定を削除しました。")).to_be_visible()
    expect(page.get_by_role("link", name="設定削除")).to_have_count(0)
    expect(page.get_by_label("SMTPサーバーホスト")).to_have_value("")
    assert_no_console_problems(page, expected_statuses=[422])
