"""An admin looks for who created API tokens in the audit log, narrows it, and pages Older and Newer."""

import json
import re
from datetime import timedelta

import pytest
from playwright.sync_api import expect

from exastro_mail.store.models import AuditEvent, utcnow
from tests.browser.test_settings_story import assert_no_console_problems, log_in

pytestmark = pytest.mark.browser


def fill_history(server):
    """60 token creations by alice and 10 logins by bob, a minute apart, a day ago."""
    with server.app.app_context():
        org = server.organization()
        start = utcnow() - timedelta(days=1)
        for n in range(70):
            created = n < 60
            AuditEvent.create(
                organization=org,
                actor="alice" if created else "bob",
                action="api_token.created" if created else "login",
                detail=json.dumps({"name": f"token {n:02d}"}) if created else None,
                created_at=start + timedelta(minutes=n),
            )


def names_shown(page):
    return page.locator("#audit-log-table tbody td.details").all_inner_texts()


def test_filter_the_audit_log_and_page_older_and_newer(page, live_server):
    fill_history(live_server)
    log_in(page, live_server)
    page.get_by_role("link", name="Audit log").click()
    expect(page.get_by_text("Entries older than 400 days are removed.")).to_be_visible()
    # One row of filters, every field and the button as tall as the others (the selects were 5 px shorter)
    heights = page.locator("#audit-log-filter").evaluate(
        "form => [...form.querySelectorAll('select, input, button')].map(field => field.offsetHeight)"
    )
    assert len(heights) == 7 and len(set(heights)) == 1, heights

    page.get_by_label("What").select_option(label="API token created")  # htmx refreshes on change
    expect(page.locator("#audit-log-position")).to_have_text("25 entries shown")
    expect(page).to_have_url(re.compile(rf"/{live_server.org}/platform/audit-log\?action=api_token\.created"))
    page.get_by_label("Who").fill("alice")
    page.get_by_label("Who").press("Tab")  # a text field filters once it is left (its change event)
    expect(page).to_have_url(re.compile("who=alice"))
    page.get_by_label("Per page").select_option("50")
    expect(page.locator("#audit-log-position")).to_have_text("50 entries shown")
    newest = names_shown(page)
    assert newest[0] == "Name: token 59" and newest[-1] == "Name: token 10"

    page.locator("#audit-log-older").click()
    expect(page.locator("#audit-log-position")).to_have_text("10 entries shown")
    assert names_shown(page)[0] == "Name: token 09" and names_shown(page)[-1] == "Name: token 00"
    expect(page).to_have_url(re.compile(r"before=\d+-\d+"))
    assert "who=alice" in page.url and "size=50" in page.url
    expect(page.locator("#audit-log-older")).to_have_count(0)

    page.locator("#audit-log-newer").click()
    expect(page.locator("#audit-log-position")).to_have_text("50 entries shown")
    assert names_shown(page) == newest
    expect(page.locator("#audit-log-newer")).to_have_count(0)

    page.get_by_label("Details contain").fill("token 3")
    page.get_by_label("Details contain").press("Enter")
    expect(page.locator("#audit-log-position")).to_have_text("10 entries shown")  # token 30 to 39

    page.reload()  # the address htmx pushed is the page itself: it can be reloaded or shared
    expect(page.locator("#audit-log-position")).to_have_text("10 entries shown")
    expect(page.get_by_label("Details contain")).to_have_value("token 3")
    assert_no_console_problems(page)


def test_a_phone_sees_the_audit_log_without_sideways_scrolling(page, live_server):
    fill_history(live_server)
    page.set_viewport_size({"width": 375, "height": 800})
    log_in(page, live_server)
    page.goto(f"{live_server.org_url}/platform/audit-log?who=alice")
    expect(page.locator("#audit-log-position")).to_have_text("25 entries shown")
    page.locator("#audit-log-older").click()
    expect(page.locator("#audit-log-position")).to_have_text("25 entries shown")
    too_wide = page.evaluate(
        """[...document.querySelectorAll('main *')].filter(e => e.getBoundingClientRect().right > 376)
            .filter(e => !e.closest('.table-scroll')).map(e => e.tagName + '#' + e.id + '.' + e.className
            + ' ' + Math.round(e.getBoundingClientRect().right))"""
    )
    page_width = page.evaluate("document.documentElement.scrollWidth")
    assert page_width <= 375, (page_width, too_wide)


def test_a_swap_sets_no_style_attribute_that_the_content_security_policy_would_refuse(page, live_server):
    # htmx's settle step copies the old element's class, style, width and height onto the new one with
    # setAttribute. Our pages carry no style attribute (style-src has no 'unsafe-inline'), but a tool or
    # an extension may give one through the CSSOM, which the CSP allows: copied, it was refused.
    fill_history(live_server)
    log_in(page, live_server)
    page.goto(f"{live_server.org_url}/platform/audit-log")
    page.evaluate("document.getElementById('audit-log').style.outline = '2px solid transparent'")
    page.get_by_label("What").select_option(label="API token created")
    expect(page.locator("#audit-log-position")).to_have_text("25 entries shown")
    expect(page.locator(".htmx-settling, .htmx-swapping")).to_have_count(0)
    page.wait_for_timeout(200)  # a refusal reaches the console after the settle
    assert_no_console_problems(page)
