"""An admin of a Microsoft 365 organization sets up OAuth 2.0 in the browser, tests it, registers it, and
Forgot password mails the reset link through AUTH XOAUTH2.

The Microsoft 365 helper fills login.microsoftonline.com, which cannot be reached here: the story edits
the filled token URL and SMTP host to the local peers (every field stays editable), and the server
process trusts the peers' CA through EXASTRO_MAIL_SMTP_CA_FILE.
"""

import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import serve_acme, stop_cleanly
from tests.browser.test_forgot_password_story import NEW_PASSWORD, ask_for_a_reset_link
from tests.browser.test_settings_story import assert_no_console_problems, log_in, log_out
from tests.oauth_servers import CLIENT_ID, CLIENT_SECRET, MAILBOX, SMTP_SCOPE

pytestmark = pytest.mark.browser
SETTINGS = "/platform/settings/mailserver"


@pytest.fixture
def oauth_live_server(tmp_path, smtp_ca, xoauth2_smtp_server_factory):
    """`exastro-mail serve` whose SMTP, token and Graph connections trust the test CA; it stops before
    the peers do, so none of them is left with a connection from it."""
    server = serve_acme(tmp_path, SMTP_CA_FILE=smtp_ca.ca_file)
    yield server
    log = stop_cleanly(server.server)
    assert CLIENT_SECRET not in log


def test_microsoft_365_with_oauth_from_the_helper_to_a_reset_link(
    page, oauth_live_server, token_endpoint, xoauth2_smtp_server_factory
):
    smtp = xoauth2_smtp_server_factory()
    server = oauth_live_server
    log_in(page, server)
    page.goto(server.org_url + SETTINGS)

    page.get_by_label("With authentication").check()
    page.get_by_label("OAuth 2.0 (client credentials), e.g. Microsoft 365").check()
    expect(page.get_by_label("Authentication password")).to_be_hidden()
    expect(page.get_by_label("Service account key (JSON)")).to_be_hidden()
    page.get_by_label("Microsoft 365 tenant (ID or domain)").fill("contoso.onmicrosoft.com")

    token_url = page.get_by_label("Token URL")
    expect(token_url).to_have_value(
        "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token"
    )
    expect(page.get_by_label("Scope")).to_have_value(SMTP_SCOPE)
    expect(page.get_by_label("SMTP server host")).to_have_value("smtp.office365.com")
    expect(page.get_by_label("STARTTLS")).to_be_checked()
    expect(page.get_by_label("SMTP server port")).to_have_value("587")

    # login.microsoftonline.com and smtp.office365.com are out of reach here: the local peers instead.
    token_url.fill(token_endpoint.entra_url())
    page.get_by_label("SMTP server host").fill(smtp.host)
    page.get_by_label("SMTP server port").fill(str(smtp.port))
    page.get_by_label("Client ID").fill(CLIENT_ID)
    page.get_by_label("Client secret").fill(CLIENT_SECRET)
    page.get_by_label("Authentication user").fill(MAILBOX)
    page.get_by_label("Source mail address (From)").fill(MAILBOX)
    page.get_by_label("Source display name").fill("ACME accounts")

    page.get_by_label("Send the test mail to").fill("admin@example.com")
    page.get_by_role("button", name="Send test mail").click()
    result = page.locator("#test-mail-result")
    expect(result.locator("#test-mail-outcome")).to_contain_text("The server accepted the test mail")
    token_step = result.locator(".step").first
    expect(token_step.locator(".step-name")).to_have_text("Token")
    expect(token_step.locator(".step-detail")).to_have_text(
        re.compile(rf"asked {re.escape(token_endpoint.entra_url())} for a token: got one, valid 59 min")
    )
    expect(result).to_contain_text(f"XOAUTH2 accepted for {MAILBOX}")
    assert CLIENT_SECRET not in page.content()

    page.get_by_role("button", name="Register").click()
    expect(page.get_by_text("Registered SMTP server settings for email sending")).to_be_visible()
    expect(page.get_by_text("A client secret is stored: leave blank to keep it.")).to_be_visible()
    assert CLIENT_SECRET not in page.content()
    log_out(page)

    ask_for_a_reset_link(page, "bob")

    mails = smtp.wait_for(2, timeout=20)  # the test mail, then the reset link
    reset = mails[1]
    assert reset.authenticated_user == MAILBOX
    assert reset.recipients == ["bob@example.com"]
    text = reset.message.get_body(("plain",)).get_content()
    link = re.search(rf"{re.escape(server.org_url)}/reset-password/\S+", text).group(0)
    page.goto(link)
    page.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
    page.get_by_label("New password again").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Change password").click()
    expect(page.get_by_role("heading", name=re.compile("Log in to"))).to_be_visible()
    notice = smtp.wait_for(3, timeout=20)[2]
    assert notice.authenticated_user == MAILBOX
    # The test mail's token, and the worker's, which it kept for the notice too.
    assert len(token_endpoint.requests) == 2
    assert_no_console_problems(page)


def test_the_rows_follow_the_chosen_methods_and_the_google_helper_fills_gmail(page, live_server):
    log_in(page, live_server)
    page.goto(live_server.org_url + SETTINGS)
    page.get_by_label("With authentication").check()
    expect(page.get_by_label("Authentication password")).to_be_visible()
    expect(page.get_by_label("Token URL")).to_be_hidden()

    page.get_by_role("button", name="Fill in for Google Workspace").click()
    expect(page.get_by_label("OAuth 2.0 service account, e.g. Google Workspace")).to_be_checked()
    expect(page.get_by_label("Service account key (JSON)")).to_be_visible()
    expect(page.get_by_label("Authentication password")).to_be_hidden()
    expect(page.get_by_label("SMTP server host")).to_have_value("smtp.gmail.com")
    expect(page.get_by_label("STARTTLS")).to_be_checked()
    expect(page.get_by_label("SMTP server port")).to_have_value("587")
    page.get_by_label("SMTP server host").fill("smtp-relay.gmail.com")  # still editable

    page.get_by_label("OAuth 2.0 (client credentials), e.g. Microsoft 365").check()
    page.get_by_label("Microsoft Graph").check()
    expect(page.get_by_label("SMTP server host")).to_be_hidden()
    expect(page.get_by_label("Graph URL")).to_have_value("https://graph.microsoft.com")
    page.get_by_label("Microsoft 365 tenant (ID or domain)").fill("contoso.onmicrosoft.com")
    expect(page.get_by_label("Scope")).to_have_value("https://graph.microsoft.com/.default")
    expect(page.get_by_label("Service account key (JSON)")).to_be_hidden()
    assert_no_console_problems(page)
