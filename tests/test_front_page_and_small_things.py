"""The front page /, and the small things around logging in and out and the reset mails: a Logged out
confirmation, a clean next=, Forgot password without settings, mail footers that know the Reply-to."""

import re

import pytest

from exastro_mail.mailserver.store import delete_settings
from tests.conftest import make_org
from tests.outbox_helpers import deliver, point_settings_at


def error_of(html: str, field: str) -> str | None:
    match = re.search(rf'<p class="error" id="{field}-error">([^<]*)</p>', html)
    return match.group(1) if match else None


def test_the_front_page_names_the_product_and_leads_to_the_only_organization(client, org):
    response = client.get("/")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "<h1>Exastro mail</h1>" in page
    assert '<a class="button" href="/acme/login">Log in to ACME Corp</a>' in page
    assert 'name="organization"' not in page


def test_with_several_organizations_the_front_page_asks_for_an_id_and_lists_none(client, org):
    make_org("globex", "Globex Corporation")
    page = client.get("/").get_data(as_text=True)
    assert 'id="organization"' in page and "Organization ID" in page
    for leaked in ("acme", "ACME Corp", "globex", "Globex"):
        assert leaked not in page.replace("“acme” in /acme/login", "")
    response = client.get("/?organization=globex")
    assert response.status_code == 303 and response.headers["Location"] == "/globex/login"


@pytest.mark.parametrize(
    ("typed", "status", "message"),
    [
        ("initech", 404, "No organization has this ID. Check it with your administrator."),
        ("../etc/passwd", 404, "No organization has this ID. Check it with your administrator."),
        ("  ", 422, "Enter your organization's ID."),
    ],
)
def test_an_unknown_or_empty_id_is_said_next_to_the_field(client, org, typed, status, message):
    make_org("globex", "Globex")
    response = client.get("/", query_string={"organization": typed})
    assert response.status_code == status
    page = response.get_data(as_text=True)
    assert error_of(page, "organization") == message.replace("'", "&#39;")
    assert 'aria-invalid="true"' in page


def test_without_any_organization_the_front_page_says_how_to_make_one(client):
    page = client.get("/").get_data(as_text=True)
    assert "No organization has been created yet" in page and "exastro-mail create-org" in page


def test_logging_out_says_so(client, admin, auth):
    auth.login()
    response = auth.logout()
    assert response.status_code == 303 and response.headers["Location"] == "/acme/login"
    page = client.get("/acme/login").get_data(as_text=True)
    assert '<p class="flash flash-success">You have logged out.</p>' in page
    assert "You have logged out." not in client.get("/acme/login").get_data(as_text=True)  # once


def test_the_login_redirect_carries_the_page_without_a_stray_question_mark(client, org):
    assert client.get("/acme/platform/").headers["Location"] == "/acme/login?next=/acme/platform/"
    with_query = client.get("/acme/platform/mail-log?page=2").headers["Location"]
    assert with_query == "/acme/login?next=/acme/platform/mail-log?page%3D2"


def test_forgot_password_after_the_settings_were_deleted_says_why(mail_app, acme, smtp_server):
    point_settings_at(mail_app, acme, smtp_server)
    with mail_app.app_context():
        delete_settings(acme, actor="admin")
    response = mail_app.test_client().get("/acme/forgot-password")
    assert response.status_code == 404
    page = response.get_data(as_text=True)
    assert "Password reset by mail is not available for this organization" in page
    assert "Ask an administrator of ACME Corp" in page
    assert 'href="/acme/login"' in page


def reset_mail_text(mail_app, smtp_server) -> str:
    client = mail_app.test_client()
    client.post("/acme/forgot-password", data={"identifier": "alice"})
    deliver(mail_app)
    return smtp_server.wait_for(1)[0].message


def test_the_reset_mail_says_where_replies_go_when_a_reply_to_is_set(mail_app, acme, alice, smtp_server):
    point_settings_at(mail_app, acme, smtp_server)  # Reply-to support@example.com
    mail = reset_mail_text(mail_app, smtp_server)
    assert mail["Reply-To"].addresses[0].addr_spec == "support@example.com"
    for body in (mail.get_body(("plain",)).get_content(), mail.get_body(("html",)).get_content()):
        assert "replies go to support@example.com." in body
        assert "may not be read" not in body


def test_without_a_reply_to_the_reset_mail_says_replies_may_not_be_read(mail_app, acme, alice, smtp_server):
    point_settings_at(mail_app, acme, smtp_server, reply_to=None, reply_name=None)
    mail = reset_mail_text(mail_app, smtp_server)
    assert mail["Reply-To"] is None
    assert "replies may not be read." in mail.get_body(("plain",)).get_content()

