"""An admin who keeps pressing Send test mail is told, in place of the result, to wait."""

import pytest
from playwright.sync_api import expect

from tests.browser.test_settings_story import assert_no_console_problems, fill_in_plain_server, log_in

pytestmark = pytest.mark.browser


def test_the_eleventh_test_mail_shows_the_limit_in_place_of_the_result(page, live_server, smtp_server):
    log_in(page, live_server)
    fill_in_plain_server(page, live_server, smtp_server.port)

    statuses = []
    for _ in range(11):
        with page.expect_response("**/test-mail") as answer:
            page.locator("#send-test-mail").click()
        statuses.append(answer.value.status)
        expect(page.locator("#send-test-mail")).to_be_enabled()

    assert statuses == [200] * 10 + [429]
    expect(page.locator("#test-mail-outcome")).to_contain_text("Too many test mails")
    expect(page.locator("#test-mail-steps")).to_have_count(0)
    assert len(smtp_server.wait_for(10)) == 10
    assert_no_console_problems(page, expected_statuses=(429,))
