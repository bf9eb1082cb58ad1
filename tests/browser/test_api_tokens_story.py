"""An admin makes an API token, another tool uses it, and the admin revokes it in the dialog."""

import json
import urllib.error
import urllib.request

import pytest
from playwright.sync_api import expect

from tests.browser.test_settings_story import assert_no_console_problems, log_in

pytestmark = pytest.mark.browser


def api_status(server, token) -> int:
    request = urllib.request.Request(
        f"{server.url}/api/{server.org}/platform/settings/mailserver",
        headers={"Authorization": f"Bearer {token}"},
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            assert json.load(response)["result"] == "000-00000"
            return response.status
    except urllib.error.HTTPError as error:
        error.close()
        return error.code


def test_create_use_and_revoke_a_token(page, live_server):
    log_in(page, live_server)
    page.get_by_role("link", name="API tokens").click()
    page.get_by_label("Name").fill("IT automation")
    page.get_by_role("button", name="Create token").click()
    token = page.locator("#new-token").input_value()
    assert token.startswith("exm_")
    assert api_status(live_server, token) == 200

    page.goto(f"{live_server.org_url}/platform/api-tokens")
    assert token not in page.content()  # shown once only
    expect(page.get_by_role("cell", name="IT automation")).to_be_visible()

    page.get_by_role("link", name="Revoke…").click()
    dialog = page.locator("dialog#revoke-dialog")
    expect(dialog).to_be_visible()
    dialog.get_by_role("link", name="Cancel").click()
    expect(dialog).to_be_hidden()
    assert api_status(live_server, token) == 200

    page.get_by_role("link", name="Revoke…").click()
    expect(dialog.get_by_role("link", name="Cancel")).to_be_focused()  # the safe choice has focus
    dialog.get_by_role("button", name="Yes, revoke").click()
    expect(dialog).to_be_hidden()
    assert api_status(live_server, token) == 401
    assert_no_console_problems(page)
