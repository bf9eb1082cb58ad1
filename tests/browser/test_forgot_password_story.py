"""Forgot password end to end: a real SMTP server, the mailed link, then the new password works."""

import re

import pytest
from playwright.sync_api import expect

from tests.browser.test_settings_story import PASSWORD, assert_no_console_problems, log_in, log_out

pytestmark = pytest.mark.browser
NEW_PASSWORD = "a brand new passphrase"


def register_settings(page, server, smtp):
    page.goto(f"{server.org_url}/platform/settings/mailserver")
    page.get_by_label("SMTP server host").fill("127.0.0.1")
    page.get_by_label("None").check()
    page.get_by_label("SMTP server port").fill(str(smtp.port))
    page.get_by_label("Source mail address (From)").fill("noreply@acme.example")
    page.get_by_label("Source display name").fill("ACME accounts")
    page.get_by_role("button", name="Register").click()
    expect(page.get_by_text("Registered SMTP server settings for email sending")).to_be_visible()


def ask_for_a_reset_link(page, identifier):
    """From the login page: Forgot password, the name typed, and the answer that is the same for all."""
    page.get_by_role("link", name="Forgot password").click()
    page.get_by_label("Username or email address").fill(identifier)
    page.get_by_role("button", name="Send reset link").click()
    expect(
        page.get_by_text("If an account matches, we have sent a link to its email address.")
    ).to_be_visible()


def test_reset_by_mailed_link_then_log_in_with_the_new_password(page, live_server, smtp_server):
    log_in(page, live_server)
    register_settings(page, live_server, smtp_server)
    log_out(page)

    ask_for_a_reset_link(page, "bob")

    mail = smtp_server.wait_for(1, timeout=15)[0]
    assert mail.recipients == ["bob@example.com"]
    assert mail.envelope_from == "noreply@acme.example"
    assert mail.message["From"] == "ACME accounts <noreply@acme.example>"
    assert mail.message["Auto-Submitted"] == "auto-generated"
    text = mail.message.get_body(("plain",)).get_content()
    link = re.search(rf"{re.escape(live_server.org_url)}/reset-password/\S+", text).group(0)
    assert mail.message.get_body(("html",)) is not None

    page.goto(link)
    expect(page.get_by_role("heading", name="Set a new password")).to_be_visible()
    expect(page).to_have_url(f"{live_server.org_url}/reset-password")  # the token has left the URL
    page.get_by_label("New password", exact=True).fill("short")
    page.get_by_label("New password again").fill("short")
    page.get_by_role("button", name="Change password").click()
    expect(page.locator("#password-error")).to_contain_text("at least 10")
    page.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
    page.get_by_label("New password again").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Change password").click()
    expect(page.get_by_role("heading", name=re.compile("Log in to"))).to_be_visible()

    # The link is spent, the old password no longer works, the new one does.
    page.goto(link)
    expect(page.get_by_text("This link is invalid or has expired")).to_be_visible()
    page.goto(f"{live_server.org_url}/login")
    page.get_by_label("Username").fill("bob")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_text("The username or password is incorrect.")).to_be_visible()
    page.get_by_label("Username").fill("bob")
    page.get_by_label("Password").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(f"{live_server.org_url}/platform/")

    notice = smtp_server.wait_for(2, timeout=15)[1]
    assert notice.recipients == ["bob@example.com"]
    assert "password" in notice.message["Subject"].lower()
    assert_no_console_problems(page, expected_statuses=[422, 404])
