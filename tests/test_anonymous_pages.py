"""The login and forgot-password pages are rendered once and handed to every anonymous visitor: each still
gets a CSRF token of its own that works, and whatever the page shows is current on every request."""

import re

import pytest

from exastro_mail.mailserver.store import delete_settings
from exastro_mail.store.models import Organization
from exastro_mail.web import page_cache as anonymous_pages
from tests.conftest import DEFAULT_PASSWORD, build_app, csrf_token_from, make_org, make_user
from tests.outbox_helpers import point_settings_at

FORGOT_LINK = '<a href="/acme/forgot-password">'


@pytest.fixture
def site(tmp_path):
    """An app with CSRF on whose requests each get their own `g`, as in production (no app context is
    held open around them: Flask-WTF keeps the request's token in g)."""
    app = build_app(tmp_path, WTF_CSRF_ENABLED=True)
    with app.app_context():
        organization = make_org()
        make_user(organization, "alice")
        register_settings(app, organization)
    return app


def register_settings(app, organization):
    point_settings_at(app, organization, None, smtp_host="smtp.example.com", smtp_port=25)


def page(client, path="/acme/login", **options) -> str:
    response = client.get(path, **options)
    assert response.status_code == 200
    return response.get_data(as_text=True)


def tokens_in(html: str) -> set[str]:
    hidden = re.findall(r'name="csrf_token" type="hidden" value="([^"]+)"', html)
    in_headers = re.findall(r'"X-CSRFToken": "([^"]+)"', html)
    return set(hidden) | set(in_headers)


@pytest.mark.parametrize("path", ["/acme/login", "/acme/forgot-password"])
def test_every_visitor_gets_the_same_page_with_a_token_of_its_own(site, path):
    first, second = site.test_client(), site.test_client()
    first_page, second_page = page(first, path), page(second, path)
    (first_token,), (second_token,) = tokens_in(first_page), tokens_in(second_page)
    assert first_token != second_token
    assert first_page.replace(first_token, "T") == second_page.replace(second_token, "T")
    assert anonymous_pages._PLACEHOLDER not in first_page + second_page
    assert first_page.count(first_token) >= 2  # the form's field and the body's hx-headers


def test_the_token_of_a_stored_page_logs_its_visitor_in(site):
    visitors = [site.test_client() for _ in range(3)]
    for visitor in visitors:
        token = csrf_token_from(page(visitor))
        form = {"username": "alice", "password": DEFAULT_PASSWORD, "csrf_token": token}
        assert visitor.post("/acme/login", data=form).status_code == 302
    stranger = site.test_client()  # another visitor's token does not fit this one's session
    form = {"username": "alice", "password": DEFAULT_PASSWORD, "csrf_token": token}
    assert stranger.post("/acme/login", data=form).status_code == 400


def test_deleted_settings_take_the_link_away_at_once(site):
    client = site.test_client()
    assert FORGOT_LINK in page(client)
    with site.app_context():
        delete_settings(Organization.get(), actor="admin")
    assert FORGOT_LINK not in page(client)
    assert client.get("/acme/forgot-password").status_code == 404
    with site.app_context():
        register_settings(site, Organization.get())
    assert FORGOT_LINK in page(client)


def test_a_renamed_organization_shows_its_new_name_at_once(site):
    client = site.test_client()
    assert "Log in to ACME Corp" in page(client)
    # As another instance would: straight in the database, nothing this process could notice.
    with site.app_context():
        Organization.update(name="ACME Holdings").execute()
    assert "Log in to ACME Holdings" in page(client)


def test_each_language_gets_its_own_page(site):
    client = site.test_client()
    english = page(client)
    japanese = page(client, headers={"Accept-Language": "ja"})
    client.set_cookie("locale", "ja")
    chosen = page(client)
    assert "Log in to ACME Corp" in english and '<html lang="en">' in english
    assert '<html lang="ja">' in japanese and "ログイン" in japanese
    assert '<html lang="ja">' in chosen


def test_a_page_with_a_next_address_carries_it(site):
    client = site.test_client()
    page(client)
    html = page(client, "/acme/login?next=/acme/platform/mail-log")
    assert 'name="next" type="hidden" value="/acme/platform/mail-log"' in html
    assert 'name="next" type="hidden" value=""' in page(client)


def test_a_message_flashed_for_the_visitor_is_shown(site):
    client = site.test_client()
    page(client)
    with client.session_transaction() as session:
        session["_flashes"] = [("success", "Your password has been changed.")]
    assert "Your password has been changed." in page(client)
    assert "Your password has been changed." not in page(client)  # shown once


def test_a_logged_in_visitor_sees_their_own_page(site):
    client = site.test_client()
    token = csrf_token_from(page(client))
    client.post("/acme/login", data={"username": "alice", "password": DEFAULT_PASSWORD, "csrf_token": token})
    html = page(client)
    assert '<span class="who">alice</span>' in html
    assert '<span class="who">' not in page(site.test_client())


def test_the_answer_to_a_forgot_password_request_is_the_same_for_everyone_with_its_own_token(site):
    answers = []
    for identifier in ("alice", "nobody"):
        visitor = site.test_client()
        token = csrf_token_from(page(visitor, "/acme/forgot-password"))
        answer = visitor.post("/acme/forgot-password", data={"identifier": identifier, "csrf_token": token})
        assert answer.status_code == 200
        html = answer.get_data(as_text=True)
        (own,) = tokens_in(html)
        answers.append(html.replace(own, "T"))
        # The token in the answer serves this visitor's next request.
        again = visitor.post("/acme/forgot-password", data={"identifier": identifier, "csrf_token": own})
        assert again.status_code == 200
    assert answers[0] == answers[1]
    assert "If an account matches, we have sent a link to its email address." in answers[0]


def test_a_returning_anonymous_visitor_is_not_sent_a_new_session_cookie(site):
    client = site.test_client()
    first = client.get("/acme/login")
    assert first.headers["Set-Cookie"].startswith("session=")  # the CSRF token's half
    for path in ("/acme/login", "/acme/forgot-password", "/acme/login?next=/acme/platform/", "/acme/nowhere"):
        response = client.get(path)
        assert response.status_code in (200, 404)
        assert "Set-Cookie" not in response.headers, path
