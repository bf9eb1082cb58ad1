"""Every page, as an admin and a user meet them, in both languages and both colour schemes: none
scrolls sideways at 360 px or 1280 px, and axe-core finds no WCAG A/AA violation on any of them."""

import re

import pytest
from playwright.sync_api import expect

from exastro_mail.password_reset import tokens
from exastro_mail.store.models import utcnow
from tests.browser.page_checks import assert_accessible, assert_fits, resize
from tests.conftest import DEFAULT_PASSWORD

pytestmark = pytest.mark.browser
SETTINGS = "/platform/settings/mailserver"


def reset_link(server) -> str:
    """A fresh reset link for bob, as the reset mail would carry it."""
    token = tokens.new_token()
    with server.app.app_context():
        tokens.issue(server.user("bob"), token, now=utcnow(), ttl_seconds=600)
    return f"{server.org_url}/reset-password/{token}"


def log_in(page, server, username):
    page.goto(f"{server.org_url}/login")
    page.locator("#username").fill(username)
    page.locator("#password").fill(DEFAULT_PASSWORD)
    page.locator("form[action$='/login'] button[type=submit]").click()
    expect(page).to_have_url(f"{server.org_url}/platform/")


class Walk:
    """Checks each page it is shown in both colour schemes, each at a phone's width and a laptop's, with
    axe-core at all four. The scheme is switched on the page as it stands (the media query applies at
    once), so that one walk through the pages serves both."""

    def __init__(self, page, axe_source, label):
        self.page, self.axe_source, self.label = page, axe_source, label
        self.seen = []

    def check(self, what):
        self.seen.append(what)
        for scheme in ("light", "dark"):
            self.page.emulate_media(color_scheme=scheme)
            for width in (360, 1280):
                resize(self.page, width)
                where = f"{self.label} {scheme}, {what}, {width}px"
                assert_fits(self.page, where)
                assert_accessible(self.page, self.axe_source, where)
        self.page.emulate_media(color_scheme="light")
        resize(self.page, 360)

    def visit(self, what, url):
        self.page.goto(url)
        self.check(what)


def walk_every_page(walk: Walk, server, smtp) -> None:
    page, url = walk.page, server.org_url
    walk.visit("/", server.url + "/")
    walk.visit("login", url + "/login")
    walk.visit("forgot password", url + "/forgot-password")
    walk.visit("reset password", reset_link(server))
    walk.visit("invalid reset link", url + "/reset-password/not-a-token")

    log_in(page, server, "admin")
    walk.check("menu")
    walk.visit("settings, not configured", url + SETTINGS)
    page.locator("#smtp_host").fill("smtp://smtp.example.com")
    page.locator("#send_from").fill("noreply@")
    page.locator("#register-settings").click()
    expect(page.locator("#error-summary")).to_be_focused()
    walk.check("settings, failed submit")

    page.locator("#smtp_host").fill("127.0.0.1")
    page.locator("#encryption-0").check()
    page.locator("#smtp_port").fill(str(smtp.port))
    page.locator("#send_from").fill("noreply@acme.example")
    page.locator("#authentication_enable").check()
    page.locator("#authentication_enable").uncheck()
    page.locator("#register-settings").click()
    expect(page.locator("#danger-zone")).to_be_visible()
    walk.check("settings, registered")

    page.locator("#send-test-mail").click()
    expect(page.locator("#test-mail-outcome")).to_be_visible()
    walk.check("settings, test mail sent")
    # The result page without JavaScript's help (POST, redirect, GET).
    page.evaluate(
        """() => { const form = document.getElementById('mailserver-form');
                   form.action = document.getElementById('send-test-mail').getAttribute('formaction');
                   form.submit(); }"""
    )
    expect(page).to_have_url(re.compile(re.escape(url + SETTINGS) + r"/test-mail/[\w-]{22}$"))
    walk.check("test mail result page")

    page.goto(url + SETTINGS)
    page.locator("#danger-zone a.danger").click()
    expect(page.locator("#delete-dialog")).to_have_attribute("open", "")
    expect(page.locator("#confirmation")).to_be_visible()
    walk.check("delete dialog")
    walk.visit("delete page", url + SETTINGS + "/delete")

    walk.visit("delivery log", url + "/platform/mail-log")
    walk.visit("audit log", url + "/platform/audit-log")
    page.goto(url + "/platform/api-tokens")
    page.locator("#name").fill("monitoring alerts from the night shift")
    page.locator("form[action$='/api-tokens'] button[type=submit]").click()
    new_row = page.locator("tr[id^='token-']", has_text="monitoring alerts from the night shift")
    expect(new_row).to_be_visible()
    walk.check("API tokens")
    walk.visit("404", url + "/platform/no-such-page")

    page.goto(url + "/platform/")
    page.locator("header form[action$='/logout'] button").click()
    log_in(page, server, "bob")
    walk.check("menu of a user")
    walk.visit("403", url + SETTINGS)


@pytest.mark.parametrize("locale", ["en-US", "ja-JP"])
def test_every_page_fits_a_phone_and_passes_axe(new_page, live_server, smtp_server, axe_source, locale):
    page = new_page(width=360, locale=locale)
    walk = Walk(page, axe_source, locale)
    walk_every_page(walk, live_server, smtp_server)
    assert len(walk.seen) >= 19
    if locale == "ja-JP":
        assert page.locator("html").get_attribute("lang") == "ja"
    assert page.console_problems == [] or all("status of 4" in p for p in page.console_problems)
