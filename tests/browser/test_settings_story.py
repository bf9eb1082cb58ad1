"""The settings story in a real browser: register, see Forgot password, delete behind a typed confirmation."""

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


def log_in(page, server, username="admin"):
    page.goto(f"{server.org_url}/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(f"{server.org_url}/platform/")


def fill_in_plain_server(page, server, port: int, recipient="ops@example.com"):
    """The settings page, filled in for a plain SMTP server on 127.0.0.1:port, and the test recipient."""
    page.goto(f"{server.org_url}/platform/settings/mailserver")
    page.get_by_label("SMTP server host").fill("127.0.0.1")
    page.get_by_label("None", exact=True).check()
    page.get_by_label("SMTP server port").fill(str(port))
    page.get_by_label("Source mail address (From)").fill("noreply@example.com")
    page.locator("#test_recipient").fill(recipient)


def log_out(page):
    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("heading", name=re.compile("Log in to"))).to_be_visible()


def test_register_then_delete_settings(page, live_server):
    server = live_server
    log_in(page, server)
    page.get_by_role("link", name="Mail sending server settings").click()
    expect(page.get_by_role("heading", name="Mail sending server settings")).to_be_visible()
    expect(page.get_by_role("link", name="Delete settings")).to_have_count(0)

    # Authentication rows appear with the checkbox; the port follows the encryption method.
    expect(page.get_by_label("Authentication user")).to_be_hidden()
    page.get_by_label("With authentication").check()
    expect(page.get_by_label("Authentication user")).to_be_visible()
    page.get_by_label("SSL/TLS").check()
    expect(page.get_by_label("SMTP server port")).to_have_value("465")
    page.get_by_label("STARTTLS").check()
    expect(page.get_by_label("SMTP server port")).to_have_value("587")

    page.get_by_label("SMTP server host").fill("smtp://smtp.example.com")
    page.get_by_label("Authentication user").fill("mailer")
    page.get_by_label("Authentication password").fill("s3cret-SMTP-pass")
    page.get_by_label("Source mail address (From)").fill("Noreply <noreply@example.com>")
    page.get_by_role("button", name="Register").click()
    expect(page.locator("#smtp_host-error")).to_contain_text("without a scheme")
    expect(page.locator("#send_from-error")).to_contain_text("Enter the address only")

    page.get_by_label("SMTP server host").fill("smtp.example.com")
    page.get_by_label("Authentication password").fill("s3cret-SMTP-pass")
    page.get_by_label("Source mail address (From)").fill("noreply@example.com")
    page.get_by_label("Source display name").fill("ACME notifications")
    page.get_by_role("button", name="Register").click()
    expect(page.get_by_text("Registered SMTP server settings for email sending")).to_be_visible()
    expect(page.get_by_label("Authentication password")).to_have_value("")
    assert "s3cret-SMTP-pass" not in page.content()

    log_out(page)
    expect(page.get_by_role("link", name="Forgot password")).to_be_visible()

    log_in(page, server)
    page.goto(f"{server.org_url}/platform/settings/mailserver")
    page.get_by_role("link", name="Delete settings").click()
    dialog = page.locator("dialog#delete-dialog")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("cannot be restored")
    confirmation = dialog.get_by_label("Type Delete to confirm.")
    expect(confirmation).to_be_focused()
    yes = dialog.get_by_role("button", name="Yes, delete")
    expect(yes).to_be_disabled()

    # Escape closes the dialog; Cancel does too; nothing is deleted.
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    page.get_by_role("link", name="Delete settings").click()
    expect(dialog).to_be_visible()
    dialog.get_by_role("link", name="Cancel").click()
    expect(dialog).to_be_hidden()

    page.get_by_role("link", name="Delete settings").click()
    confirmation.fill("delete")
    expect(yes).to_be_disabled()
    # The server checks too: force the button on and send the wrong word.
    yes.evaluate("button => { button.disabled = false; }")
    yes.click()
    expect(dialog.locator("#confirmation-error")).to_contain_text("Type Delete exactly")
    expect(dialog).to_be_visible()

    dialog.get_by_label("Type Delete to confirm.").fill("Delete")
    expect(yes).to_be_enabled()
    yes.click()
    expect(page.get_by_text("The email sending server settings have been deleted.")).to_be_visible()
    expect(page.get_by_label("SMTP server host")).to_have_value("")
    expect(page.get_by_role("link", name="Delete settings")).to_have_count(0)

    log_out(page)
    expect(page.get_by_role("link", name="Forgot password")).to_have_count(0)
    assert_no_console_problems(page, expected_statuses=[422])


def test_plain_user_sees_no_admin_items_and_gets_403(page, live_server):
    log_in(page, live_server, "bob")
    expect(page.get_by_role("link", name="Mail sending server settings")).to_have_count(0)
    response = page.goto(f"{live_server.org_url}/platform/settings/mailserver")
    assert response.status == 403
    expect(page.get_by_text("You do not have permission")).to_be_visible()


def test_delete_works_without_javascript(chromium, live_server):
    context = chromium.new_context(java_script_enabled=False)
    page = context.new_page()
    try:
        log_in(page, live_server)
        page.goto(f"{live_server.org_url}/platform/settings/mailserver")
        page.get_by_label("SMTP server host").fill("smtp.example.com")
        page.get_by_label("Source mail address (From)").fill("noreply@example.com")
        page.get_by_role("button", name="Register").click()
        expect(page.get_by_text("Registered SMTP server settings for email sending")).to_be_visible()
        page.get_by_role("link", name="Delete settings").click()
        expect(page).to_have_url(f"{live_server.org_url}/platform/settings/mailserver/delete")
        page.get_by_label("Type Delete to confirm.").fill("Delete")
        page.get_by_role("button", name="Yes, delete").click()
        expect(page.get_by_text("The email sending server settings have been deleted.")).to_be_visible()
    finally:
        context.close()
