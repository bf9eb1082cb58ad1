"""The settings page as an admin uses it on a laptop (1280 px) and a phone (375 px): issue 15's items
1, 4, 8, 9, 10, 11, 12 (IDN), 13 and the settings page's make-it-good list, and the platform menu."""

import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import session_cookie
from tests.browser.page_checks import assert_fits
from tests.browser.test_every_page import reset_link
from tests.conftest import DEFAULT_PASSWORD

pytestmark = pytest.mark.browser
SETTINGS = "/platform/settings/mailserver"
WIDTHS = [1280, 375]


def log_in(page, server, username="admin"):
    page.goto(f"{server.org_url}/login")
    page.locator("#username").fill(username)
    page.locator("#password").fill(DEFAULT_PASSWORD)
    page.locator("form[action$='/login'] button[type=submit]").click()
    expect(page).to_have_url(f"{server.org_url}/platform/")


def admin_page(new_page, server, width, **options):
    """A page of its own at width, with the admin logged in (over HTTP: the login is other tests' subject)."""
    page = new_page(width=width, **options)
    page.context.add_cookies([session_cookie(server, "admin")])
    return page


def fill_server(page, smtp_port, host="127.0.0.1"):
    page.locator("#smtp_host").fill(host)
    page.locator("#encryption-0").check()
    page.locator("#smtp_port").fill(str(smtp_port))
    page.locator("#send_from").fill("noreply@acme.example")


def register(page, server, smtp_port, host="127.0.0.1"):
    page.goto(server.org_url + SETTINGS)
    fill_server(page, smtp_port, host)
    page.locator("#register-settings").click()
    expect(page.locator("#danger-zone")).to_be_visible()


@pytest.mark.parametrize("width", WIDTHS)
def test_header_and_log_tables_fit_a_phone(new_page, live_server, smtp_server, width):
    page = admin_page(new_page, live_server, width)
    register(page, live_server, smtp_server.port)
    assert_fits(page, "settings")
    # 日本語 and Log out stay on one line each.
    for button in (page.get_by_role("button", name="日本語"), page.get_by_role("button", name="Log out")):
        box = button.bounding_box()
        assert box["height"] < 40 and box["width"] > box["height"], box
    page.goto(live_server.org_url + "/platform/audit-log")
    assert_fits(page, "audit log")
    scroller = page.locator(".table-scroll").first
    overflowing = scroller.evaluate("box => box.scrollWidth > box.clientWidth")
    assert overflowing == (width == 375)
    if overflowing:  # the table scrolls inside its box, which says so and takes the keyboard
        expect(page.locator(".scroll-hint").first).to_have_text("Scroll sideways to see every column.")
        expect(scroller).to_have_attribute("tabindex", "0")
    else:
        expect(page.locator(".scroll-hint")).to_have_count(0)


@pytest.mark.parametrize("width", WIDTHS)
def test_choosing_an_encryption_method_keeps_a_custom_port(new_page, live_server, width):
    page = admin_page(new_page, live_server, width)
    page.goto(live_server.org_url + SETTINGS)
    port = page.locator("#smtp_port")
    page.get_by_label("SSL/TLS").check()
    expect(port).to_have_value("465")  # a usual port follows the method
    page.get_by_label("STARTTLS").check()
    expect(port).to_have_value("587")
    port.fill("8025")
    page.get_by_label("SSL/TLS").check()
    expect(port).to_have_value("8025")  # a typed one stays
    port.fill("")
    page.get_by_label("STARTTLS").check()
    expect(port).to_have_value("587")  # a blank one is filled


@pytest.mark.parametrize("width", WIDTHS)
def test_test_steps_mark_unused_ones_neutral_and_a_bad_recipient_on_its_field(
    new_page, live_server, smtp_server, width
):
    page = admin_page(new_page, live_server, width)
    page.goto(live_server.org_url + SETTINGS)
    fill_server(page, smtp_server.port)
    page.locator("#test_recipient").fill("ops@")
    page.locator("#send-test-mail").click()
    expect(page.locator("#test-mail-problems")).to_be_focused()
    row = page.locator("#row-test_recipient")
    expect(row).to_have_class(re.compile("has-error"))
    expect(page.locator("#test_recipient")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#test_recipient-error")).to_have_text(
        "Add the domain after the @, as in name@example.com."
    )

    page.locator("#test_recipient").fill("ops@example.com")
    page.locator("#send-test-mail").click()
    expect(page.locator("#test-mail-outcome")).to_contain_text("accepted the test mail to ops@example.com")
    expect(page.locator("#test_recipient")).not_to_have_attribute("aria-invalid", "true")
    unused = page.locator("#test-mail-steps .step-unused")
    expect(unused).to_have_count(2)  # TLS and AUTH
    expect(unused.locator(".step-result")).to_have_text(["not used", "not used"])
    colour = unused.first.locator(".step-result").evaluate("e => getComputedStyle(e).color")
    ok_colour = page.locator("#test-mail-steps .step-ok .step-result").first.evaluate(
        "e => getComputedStyle(e).color"
    )
    assert colour != ok_colour
    assert_fits(page, "test result")


@pytest.mark.parametrize("width", WIDTHS)
def test_step_details_are_in_japanese_on_japanese_pages(new_page, live_server, smtp_server, width):
    page = admin_page(new_page, live_server, width, locale="ja-JP")
    page.goto(live_server.org_url + SETTINGS)
    fill_server(page, smtp_server.port)
    page.locator("#send-test-mail").click()
    steps = page.locator("#test-mail-steps")
    expect(steps).to_contain_text("に接続しました")
    expect(steps).to_contain_text("メッセージを送信しました")
    expect(steps).to_contain_text("グリーティング 220")
    expect(steps.locator(".step-unused .step-result").first).to_have_text("使用しません")
    for english in ("connected to", "message sent", "greeting", "bytes"):
        assert english not in steps.inner_text()


@pytest.mark.parametrize("width", WIDTHS)
def test_a_failed_submit_moves_focus_to_a_summary_that_links_to_each_field(new_page, live_server, width):
    page = admin_page(new_page, live_server, width)
    page.goto(live_server.org_url + SETTINGS)
    page.locator("#smtp_host").fill("smtp://smtp.example.com")
    page.locator("#send_from").fill("noreply@")
    page.locator("#register-settings").click()
    summary = page.locator("#error-summary")
    expect(summary).to_be_focused()
    links = summary.get_by_role("link")
    expect(links).to_have_text(["SMTP server host", "Source mail address (From)"])
    links.nth(1).click()
    expect(page.locator("#send_from")).to_be_focused()


@pytest.mark.parametrize("width", WIDTHS)
def test_a_failed_password_reset_moves_focus_to_its_summary(new_page, live_server, width):
    page = new_page(width=width)
    page.goto(reset_link(live_server))
    page.locator("#password").fill("short")
    page.locator("#confirmation").fill("other")
    page.get_by_role("button", name="Change password").click()
    expect(page.locator("#error-summary")).to_be_focused()
    page.locator("#error-summary a").first.click()
    expect(page.locator("#password")).to_be_focused()
    assert_fits(page, "reset password with errors")


@pytest.mark.parametrize("width", WIDTHS)
def test_the_open_delete_dialog_has_clean_markup(new_page, live_server, smtp_server, width):
    page = admin_page(new_page, live_server, width)
    register(page, live_server, smtp_server.port)
    page.locator("#danger-zone a.danger").click()
    expect(page.locator("#delete-dialog")).to_have_attribute("open", "")
    html = page.content()
    assert 'aria-describedby="None"' not in html
    assert html.count('id="csrf_token"') == 1
    ids = page.evaluate("() => Array.from(document.querySelectorAll('[id]'), e => e.id)")
    assert len(ids) == len(set(ids)), sorted({i for i in ids if ids.count(i) > 1})
    assert_fits(page, "delete dialog")
    page.locator("#confirmation").fill("nope")
    expect(page.locator("#delete-dialog [data-confirm-button]")).to_be_disabled()
    page.locator("#delete-dialog form").evaluate("form => form.requestSubmit()")  # the server checks too
    expect(page.locator("#confirmation")).to_have_attribute("aria-describedby", "confirmation-error")
    html = page.content()
    assert 'aria-describedby="None"' not in html and html.count('id="csrf_token"') == 1


@pytest.mark.parametrize("width", WIDTHS)
def test_a_field_is_checked_when_it_loses_focus_in_our_words(new_page, live_server, width):
    page = admin_page(new_page, live_server, width)
    page.goto(live_server.org_url + SETTINGS)
    page.locator("#reply_to").fill("name@")
    page.locator("#reply_name").focus()
    expect(page.locator("#reply_to-error")).to_have_text(
        "Add the domain after the @, as in name@example.com."
    )
    expect(page.locator("#reply_to")).to_have_attribute("aria-invalid", "true")
    page.locator("#reply_to").fill("name@example.com")
    page.locator("#reply_name").focus()
    expect(page.locator("#reply_to-error")).to_have_count(0)
    page.locator("#smtp_port").fill("0")
    page.locator("#smtp_host").focus()
    expect(page.locator("#smtp_port-error")).to_have_text("Enter a whole number from 1 to 65535.")


@pytest.mark.parametrize("width", WIDTHS)
def test_an_internationalized_host_shows_in_unicode_beside_its_punycode(new_page, live_server, width):
    page = admin_page(new_page, live_server, width)
    register(page, live_server, 2525, host="smtp.bücher.example")
    page.goto(live_server.org_url + SETTINGS)
    expect(page.locator("#smtp_host")).to_have_value("smtp.bücher.example")
    expect(page.locator("#smtp_host-hint")).to_contain_text("smtp.xn--bcher-kva.example")
    assert_fits(page, "IDN host")


@pytest.mark.parametrize("width", WIDTHS)
def test_without_javascript_rows_follow_the_checkbox_and_a_reload_sends_no_second_mail(
    new_page, live_server, smtp_server, width
):
    page = admin_page(new_page, live_server, width, javascript=False)
    page.goto(live_server.org_url + SETTINGS + "/test-mail")
    expect(page).to_have_url(live_server.org_url + SETTINGS)  # not a 405
    for row in ("#authentication_user", "#authentication_password", "#oauth2_client_id", "#graph_url"):
        expect(page.locator(row)).to_be_hidden()
    page.locator("#authentication_enable").check()
    expect(page.locator("#authentication_user")).to_be_visible()
    expect(page.locator("#authentication_password")).to_be_visible()
    expect(page.locator("#oauth2_client_id")).to_be_hidden()
    page.get_by_label("OAuth 2.0 (client credentials), e.g. Microsoft 365").check()
    expect(page.locator("#oauth2_client_id")).to_be_visible()
    expect(page.locator("#authentication_password")).to_be_hidden()
    page.get_by_label("Password", exact=True).check()
    page.locator("#authentication_enable").uncheck()
    expect(page.locator("#authentication_user")).to_be_hidden()
    expect(page.locator("#authentication_password")).to_be_hidden()
    page.get_by_label("Microsoft Graph").check()
    expect(page.locator("#graph_url")).to_be_visible()
    expect(page.locator("#smtp_host")).to_be_hidden()
    page.get_by_label("SMTP", exact=True).check()

    fill_server(page, smtp_server.port)
    page.locator("#send-test-mail").click()
    expect(page).to_have_url(re.compile(re.escape(live_server.org_url + SETTINGS) + r"/test-mail/[\w-]{22}$"))
    expect(page.locator("#test-mail-outcome")).to_contain_text("accepted the test mail")
    expect(page.locator("#smtp_port")).to_have_value(str(smtp_server.port))
    smtp_server.wait_for(1)
    page.reload()
    expect(page.locator("#test-mail-outcome")).to_contain_text("accepted the test mail")
    assert smtp_server.connections == 1
    assert_fits(page, "test result without JavaScript")


@pytest.mark.parametrize("width", WIDTHS)
def test_settings_are_in_sections_with_markers_a_password_toggle_and_a_danger_zone(
    new_page, live_server, smtp_server, width
):
    page = admin_page(new_page, live_server, width)
    page.goto(live_server.org_url + SETTINGS)
    expect(page.locator("#not-configured")).to_contain_text(
        "Not configured: password reset by mail and notifications are off"
    )
    expect(page.locator(".settings-section > legend")).to_have_text(
        ["Server", "Authentication", "Sender", "Advanced"]
    )
    expect(page.locator("label[for=smtp_host] .marker")).to_have_text("(required)")
    expect(page.locator("label[for=reply_to] .marker")).to_have_text("(optional)")
    port_width = page.locator("#smtp_port").bounding_box()["width"]
    assert port_width < 130, port_width

    page.locator("#authentication_enable").check()
    password = page.locator("#authentication_password")
    password.fill("s3cret")
    toggle = page.locator("#row-authentication_password .toggle-secret")
    expect(password).to_have_attribute("type", "password")
    toggle.click()
    expect(password).to_have_attribute("type", "text")
    expect(toggle).to_have_attribute("aria-pressed", "true")
    toggle.click()
    expect(password).to_have_attribute("type", "password")
    page.locator("#authentication_enable").uncheck()

    register(page, live_server, smtp_server.port)
    expect(page.locator("#not-configured")).to_have_count(0)
    last = page.locator("section.card > *:not(dialog)").last
    expect(last).to_have_id("danger-zone")
    assert_fits(page, "settings")


@pytest.mark.parametrize("color_scheme", ["light", "dark"])
def test_dark_mode_follows_the_systems_colour_scheme(new_page, live_server, color_scheme):
    page = new_page(color_scheme=color_scheme)
    page.goto(live_server.org_url + "/login")
    background = page.evaluate("() => getComputedStyle(document.documentElement).backgroundColor")
    card = page.locator(".card").evaluate("e => getComputedStyle(e).backgroundColor")
    dark = color_scheme == "dark"
    assert (background == "rgb(14, 21, 32)") == dark and (card == "rgb(255, 255, 255)") != dark


@pytest.mark.parametrize("width", WIDTHS)
def test_the_menu_has_exastros_shape_and_names(new_page, live_server, width):
    page = admin_page(new_page, live_server, width, locale="ja-JP")
    page.goto(live_server.org_url + "/platform/")
    expect(page.get_by_role("heading", name="オーガナイゼーション設定")).to_be_visible()
    page.get_by_role("link", name="メール送信サーバー設定").click()
    menu = page.get_by_role("navigation", name="メインメニュー")
    expect(menu.get_by_role("link", name="メール送信サーバー設定")).to_have_attribute("aria-current", "page")
    expect(menu.get_by_role("list", name="オーガナイゼーション設定")).to_contain_text(
        "メール送信サーバー設定"
    )
    expect(menu.get_by_role("link", name="監査ログ")).to_be_visible()
    assert_fits(page, "menu")


def test_a_user_sees_no_organization_settings_in_the_menu(new_page, live_server):
    page = new_page(width=375)
    log_in(page, live_server, "bob")
    expect(page.get_by_role("heading", name="Organization settings")).to_have_count(0)
    page.goto(live_server.org_url + SETTINGS)
    expect(page.get_by_role("navigation", name="Main menu").get_by_role("link")).to_have_text(["Main menu"])
