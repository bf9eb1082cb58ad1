"""What an attacker types into URLs, hidden fields and names gets a 404 or stays on the site, never a 500."""

import pytest

from exastro_mail.auth.accounts import AccountError, create_organization
from exastro_mail.store.models import Organization
from tests.conftest import DEFAULT_PASSWORD

HUGE_IDS = ["99999999999999999999999999", str(2**63), "0"]
HOSTILE_NEXT = [
    "/acme/platform/\r\nSet-Cookie: session=stolen",
    "/\r\n/evil.example/",
    "/\n\n<html>",
    "/\t/evil.example/",
]


@pytest.fixture
def admin_client(client, admin, auth):
    auth.login()
    return client


@pytest.mark.parametrize("row_id", HUGE_IDS)
def test_an_id_no_row_can_have_is_a_404_on_every_id_route(admin_client, row_id):
    assert admin_client.get(f"/acme/platform/api-tokens/{row_id}/revoke").status_code == 404
    assert admin_client.post(f"/acme/platform/api-tokens/{row_id}/revoke").status_code == 404
    assert admin_client.post(f"/acme/platform/mail-log/{row_id}/retry").status_code == 404
    assert admin_client.post(f"/acme/platform/mail-log/{row_id}/discard").status_code == 404


def test_a_page_number_no_log_can_have_shows_a_page(admin_client):
    for path in ("/acme/platform/mail-log", "/acme/platform/audit-log"):
        assert admin_client.get(f"{path}?page={HUGE_IDS[0]}").status_code == 200


@pytest.mark.parametrize("target", HOSTILE_NEXT)
def test_a_line_break_in_next_at_login_lands_on_the_menu(client, admin, target):
    response = client.post(
        "/acme/login", data={"username": "admin", "password": DEFAULT_PASSWORD, "next": target}
    )
    assert response.status_code == 302
    assert response.headers["Location"] == "/acme/platform/"
    assert "Set-Cookie: session=stolen" not in str(response.headers)


@pytest.mark.parametrize("target", HOSTILE_NEXT)
def test_a_line_break_in_next_when_choosing_a_language_lands_on_the_site(client, target):
    response = client.post("/language", data={"locale": "ja", "next": target})
    assert response.status_code == 303
    assert response.headers["Location"] == "/"


@pytest.mark.parametrize(
    "name", ["ACME\r\nBcc: victim@example.net", "ACME\nCorp", "ACME\x00", "ACME\u2028Corp", "x" * 256]
)
def test_an_organization_name_with_line_breaks_or_controls_is_refused(app, name):
    with app.app_context(), pytest.raises(AccountError, match="without line breaks or control characters"):
        create_organization("globex", name)
    with app.app_context():
        assert Organization.select().where(Organization.org_id == "globex").count() == 0


def test_create_org_on_the_command_line_refuses_a_line_break_in_the_name(app):
    result = app.test_cli_runner().invoke(args=["create-org", "globex", "--name", "Globex\nX-Injected: yes"])
    assert result.exit_code != 0
    assert "without line breaks or control characters" in result.output
    with app.app_context():
        assert Organization.select().count() == 0


def test_a_name_in_any_script_is_still_taken(app):
    name = "グローベックス\u200d株式会社"  # a zero-width joiner is a format character, not a control
    with app.app_context():
        assert create_organization("globex", f"  {name}  ").name == name
