"""An admin tests a server that answers slowly: the page shows each step as it comes, then the result,
with JavaScript (htmx asks for the steps) and without it (the page reloads itself)."""

import re

import pytest
from playwright.sync_api import expect

from tests.browser.page_checks import assert_accessible
from tests.browser.test_settings_story import assert_no_console_problems, fill_in_plain_server, log_in

pytestmark = pytest.mark.browser


def test_a_slow_servers_steps_come_one_by_one_then_the_result(page, live_server, held_server, axe_source):
    log_in(page, live_server)
    fill_in_plain_server(page, live_server, held_server.port)
    page.locator("#send-test-mail").click()

    outcome = page.locator("#test-mail-outcome")
    expect(outcome).to_contain_text("the server is taking its time")
    steps = page.locator("#test-mail-steps")
    expect(steps).to_contain_text("MAIL FROM")  # came in a later answer than the first
    expect(steps.locator(".step-running")).to_contain_text("Waiting for the server")
    expect(page.locator("#send-test-mail")).to_be_enabled()  # the request is over
    assert_accessible(page, axe_source, "a test mail on its way")
    assert held_server.messages == []

    held_server.gate.set()
    expect(outcome).to_contain_text("accepted the test mail to ops@example.com")
    expect(steps.locator(".step-running")).to_have_count(0)
    names = steps.locator(".step-name").all_inner_texts()
    assert names[-3:] == ["RCPT TO", "DATA", "Accepted"], names
    assert held_server.wait_for(1)[0].recipients == ["ops@example.com"]
    assert_no_console_problems(page)


def test_without_javascript_the_page_reloads_until_the_result(new_page, live_server, held_server):
    page = new_page(javascript=False)
    log_in(page, live_server)
    fill_in_plain_server(page, live_server, held_server.port)
    page.locator("#send-test-mail").click()

    expect(page.locator("#test-mail-outcome")).to_contain_text("the server is taking its time")
    run_page = re.escape(live_server.org_url) + r"/platform/settings/mailserver/test-mail/[\w-]{22}$"
    expect(page).to_have_url(re.compile(run_page))
    expect(page.locator("#test-mail-steps")).to_contain_text("MAIL FROM")
    held_server.gate.set()
    expect(page.locator("#test-mail-outcome")).to_contain_text("accepted the test mail to ops@example.com")
    expect(page.get_by_label("SMTP server port")).to_have_value(str(held_server.port))
    assert held_server.wait_for(1)[0].recipients == ["ops@example.com"]
