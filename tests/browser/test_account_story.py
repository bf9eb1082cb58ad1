"""The account story in a real browser, on a laptop and on a phone: the first login with a generated
password asks for an own one; the account page changes the password, the language and the time zone."""

import re

import pytest
from playwright.sync_api import expect

from exastro_mail.store.models import User
from tests.browser.test_settings_story import PASSWORD, assert_no_console_problems, log_in

pytestmark = pytest.mark.browser

WIDTHS = [pytest.param(1280, id="laptop"), pytest.param(375, id="phone")]
OWN_PASSWORD = "my very own passphrase"


def at_width(page, width):
    page.set_viewport_size({"width": width, "height": 900})


def assert_fits(page, selector="main"):
    """The content is not wider than the screen (the header is the page layout's own matter)."""
    overflow = page.eval_on_selector(selector, "e => e.scrollWidth - e.clientWidth")
    box = page.locator(selector).bounding_box()
    assert overflow <= 0 and box["x"] + box["width"] <= page.viewport_size["width"] + 0.5


def force_a_change(server, username):
    with server.app.app_context():
        User.update(must_change_password=True).where(User.id == server.user(username).id).execute()


@pytest.mark.parametrize("width", WIDTHS)
def test_the_first_login_with_a_generated_password_asks_for_an_own_one(page, live_server, width):
    server = live_server
    at_width(page, width)
    force_a_change(server, "bob")
    page.goto(f"{server.org_url}/login")
    page.get_by_label("Username").fill("bob")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Choose your own password")).to_be_visible()
    expect(page).to_have_url(f"{server.org_url}/platform/account/password")
    assert_fits(page)

    page.goto(f"{server.org_url}/platform/")  # nothing else opens before the change
    expect(page.get_by_role("heading", name="Choose your own password")).to_be_visible()

    page.get_by_label("Current password").fill(PASSWORD)
    page.get_by_label("New password", exact=True).fill(PASSWORD)
    page.get_by_label("New password again").fill(PASSWORD)
    page.get_by_role("button", name="Change password").click()
    expect(page.locator("#password-error")).to_have_text("Choose a password different from the current one.")
    expect(page.get_by_label("New password", exact=True)).to_have_attribute("aria-invalid", "true")

    page.get_by_label("Current password").fill(PASSWORD)
    page.get_by_label("New password", exact=True).fill(OWN_PASSWORD)
    page.get_by_label("New password again").fill(OWN_PASSWORD)
    page.get_by_role("button", name="Change password").click()
    expect(page).to_have_url(f"{server.org_url}/platform/")
    expect(page.get_by_text("Your password has been changed.")).to_be_visible()

    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_text("You have logged out.")).to_be_visible()
    page.get_by_label("Username").fill("bob")
    page.get_by_label("Password").fill(OWN_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(f"{server.org_url}/platform/")  # asked once only
    assert_no_console_problems(page, expected_statuses=(422,))


@pytest.mark.parametrize("width", WIDTHS)
def test_the_account_page_changes_password_language_and_time_zone(page, live_server, width):
    server = live_server
    at_width(page, width)
    log_in(page, server)
    page.get_by_role("link", name="Account").click()
    expect(page.get_by_role("heading", name="Account", exact=True)).to_be_visible()
    assert_fits(page)
    # No zone chosen yet: times follow this browser's (Asia/Tokyo, which app.js reported).
    expect(page.get_by_label("Time zone")).to_have_value("")
    expect(page.locator("#time_zone option").first).to_have_text("This browser's time zone (Asia/Tokyo)")

    page.get_by_label("Current password").fill("not my password")
    page.get_by_label("New password", exact=True).fill(OWN_PASSWORD)
    page.get_by_label("New password again").fill(OWN_PASSWORD)
    page.get_by_role("button", name="Change password").click()
    expect(page.locator("#current_password-error")).to_have_text("The current password is incorrect.")
    assert_fits(page)

    page.get_by_label("Current password").fill(PASSWORD)
    page.get_by_label("New password", exact=True).fill(OWN_PASSWORD)
    page.get_by_label("New password again").fill(OWN_PASSWORD)
    page.get_by_role("button", name="Change password").click()
    expect(page.get_by_text("Every other login of your account has ended.")).to_be_visible()

    page.get_by_role("combobox", name="Language").select_option("ja")
    page.get_by_label("Time zone").select_option("America/New_York")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_text("言語とタイムゾーンを保存しました。")).to_be_visible()
    expect(page.locator("html")).to_have_attribute("lang", "ja")
    expect(page.get_by_label("タイムゾーン")).to_have_value("America/New_York")

    page.get_by_role("link", name="メニュー").click()
    page.get_by_role("link", name="監査ログ").click()
    first_time = page.locator("table time").first
    expect(first_time).to_have_text(re.compile(r"(EST|EDT|GMT-[45]|-0[45]00)$"))
    assert_no_console_problems(page, expected_statuses=(422,))


@pytest.mark.parametrize("width", WIDTHS)
def test_the_front_page_leads_to_the_login(page, own_server, width):
    at_width(page, width)
    page.goto(f"{own_server.url}/")
    expect(page.get_by_role("heading", name="Exastro mail")).to_be_visible()
    assert_fits(page)
    page.get_by_role("link", name="Log in to ACME Corp").click()
    expect(page.get_by_role("heading", name="Log in to ACME Corp")).to_be_visible()
    assert_no_console_problems(page)


def test_reloading_after_create_token_makes_no_second_token(page, live_server):
    log_in(page, live_server)
    page.goto(f"{live_server.org_url}/platform/api-tokens")
    page.get_by_label("Name").fill("IT automation")
    page.get_by_role("button", name="Create token").click()
    token = page.locator("#new-token").input_value()
    assert token.startswith("exm_")
    page.reload()
    expect(page.get_by_text("The new token was shown once and cannot be shown again.")).to_be_visible()
    assert token not in page.content()
    expect(page.get_by_role("cell", name="IT automation")).to_have_count(1)

    page.get_by_label("Name").fill("it automation")
    page.get_by_role("button", name="Create token").click()
    expect(page.locator("#name-error")).to_contain_text("already works in this organization")
    assert_no_console_problems(page, expected_statuses=(422,))
