"""An admin proves the mail server works: a STARTTLS server with a private CA, tested from the page."""

import pytest
from playwright.sync_api import expect

from tests.browser.test_settings_story import assert_no_console_problems, log_in

pytestmark = pytest.mark.browser


def test_send_test_mail_through_starttls_with_a_private_ca(page, live_server, smtp_server_factory):
    smtp = smtp_server_factory(mode="starttls", require_starttls=True, auth={"mailer": "s3cret-SMTP-pass"})
    log_in(page, live_server)
    page.goto(f"{live_server.org_url}/platform/settings/mailserver")
    page.get_by_label("SMTP server host").fill("localhost")
    page.get_by_label("STARTTLS").check()
    page.get_by_label("SMTP server port").fill(str(smtp.port))
    page.get_by_label("With authentication").check()
    page.get_by_label("Authentication user").fill("mailer")
    page.get_by_label("Authentication password").fill("s3cret-SMTP-pass")
    page.get_by_label("Source mail address (From)").fill("noreply@example.com")

    # Without the private CA the certificate cannot be verified, and the page says what to do.
    page.locator("#test_recipient").fill("ops@example.com")
    page.locator("#send-test-mail").click()
    expect(page.locator("#test-mail-outcome")).to_contain_text("failed at")
    expect(page.locator("#test-mail-hint")).to_contain_text("Trusted CA")
    assert smtp.messages == []

    page.locator("#trusted_ca_pem").fill(smtp.trusted_pem)
    page.locator("#register-settings").click()
    expect(page.get_by_text("Registered SMTP server settings for email sending")).to_be_visible()
    expect(page.locator("#test-status")).to_contain_text("Not tested yet")

    page.locator("#test_recipient").fill("ops@example.com")
    page.locator("#send-test-mail").click()
    expect(page.locator("#test-mail-outcome")).to_contain_text("accepted the test mail to ops@example.com")
    steps = page.locator("#test-mail-steps li")
    names = steps.locator(".step-name").all_inner_texts()
    for name in (
        "Name resolution",
        "TCP connect",
        "TLS",
        "EHLO",
        "AUTH",
        "MAIL FROM",
        "RCPT TO",
        "DATA",
        "Accepted",
    ):
        assert name in names, names
    expect(page.locator("#test-mail-steps")).to_contain_text("TLSv1.")
    expect(page.locator("#test-status")).to_contain_text("Test mail accepted at")
    assert "s3cret-SMTP-pass" not in page.content()

    arrived = smtp.wait_for(1)[0]
    assert arrived.recipients == ["ops@example.com"]
    assert arrived.tls and arrived.authenticated_user == "mailer"
    assert_no_console_problems(page)
