"""Send test mail connects wherever an admin points it, so it is counted per admin and per
organization: a tenant cannot turn it into a port scanner, however many admins it makes."""

import pytest

from tests.conftest import (
    DEFAULT_PASSWORD,
    build_app,
    make_org,
    make_user,
    plain_test_mail_form,
)

HTMX = {"HX-Request": "true", "HX-Target": "test-mail-result"}


def send_url(org_id="acme"):
    return f"/{org_id}/platform/settings/mailserver/test-mail"


def logged_in(app, username, org_id="acme"):
    client = app.test_client()
    client.post(f"/{org_id}/login", data={"username": username, "password": DEFAULT_PASSWORD})
    return client


def test_the_eleventh_test_mail_of_an_admin_in_ten_minutes_is_refused(app, admin, smtp_server, closed_port):
    client = logged_in(app, "admin")
    probe = {**plain_test_mail_form(smtp_server), "smtp_port": str(closed_port)}

    answers = []
    for _ in range(11):  # a scan, here of a port where nothing listens
        answers.append(client.post(send_url(), data=probe, headers=HTMX))

    assert [answer.status_code for answer in answers[:10]] == [200] * 10
    refused = answers[10]
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["Retry-After"]) <= 600
    html = refused.get_data(as_text=True)
    assert 'id="test-mail-outcome"' in html
    assert "Too many test mails have been sent from this organization&#39;s settings. Try again in" in html


@pytest.fixture
def limited_app(tmp_path):
    return build_app(
        tmp_path, TEST_MAIL_LIMIT_PER_ADMIN="2 per 10 minutes", TEST_MAIL_LIMIT_PER_ORGANIZATION="3 per hour"
    )


def test_more_admins_do_not_buy_more_test_mails(limited_app, smtp_server):
    acme = make_org()
    for name in ("admin", "second", "third"):
        make_user(acme, name, admin=True)
    first, second, third = (logged_in(limited_app, name) for name in ("admin", "second", "third"))
    data = plain_test_mail_form(smtp_server)

    statuses = [
        first.post(send_url(), data=data, headers=HTMX).status_code,
        first.post(send_url(), data=data, headers=HTMX).status_code,
        first.post(send_url(), data=data, headers=HTMX).status_code,  # the admin's limit
        second.post(send_url(), data=data, headers=HTMX).status_code,
        third.post(send_url(), data=data, headers=HTMX).status_code,  # the organization's limit
    ]

    assert statuses == [200, 200, 429, 200, 429]
    assert len(smtp_server.wait_for(3)) == 3


def test_another_organization_keeps_its_own_test_mails(limited_app, smtp_server):
    make_user(make_org(), "admin", admin=True)
    make_user(make_org("globex", "Globex"), "hank", admin=True)
    acme, globex = logged_in(limited_app, "admin"), logged_in(limited_app, "hank", "globex")
    data = plain_test_mail_form(smtp_server)
    for _ in range(3):
        acme.post(send_url(), data=data, headers=HTMX)

    assert globex.post(send_url("globex"), data=data, headers=HTMX).status_code == 200


def test_without_htmx_the_whole_page_says_so_with_429(limited_app, smtp_server):
    make_user(make_org(), "admin", admin=True)
    client = logged_in(limited_app, "admin")
    data = plain_test_mail_form(smtp_server)
    client.post(send_url(), data=data)
    client.post(send_url(), data=data)

    response = client.post(send_url(), data=data)

    assert response.status_code == 429
    html = response.get_data(as_text=True)
    assert "<form" in html and 'id="test-mail-outcome"' in html and "Too many test mails" in html


def test_a_form_with_mistakes_costs_no_test_mail(limited_app, smtp_server):
    make_user(make_org(), "admin", admin=True)
    client = logged_in(limited_app, "admin")
    for _ in range(3):
        mistaken = client.post(
            send_url(), data={**plain_test_mail_form(smtp_server), "smtp_host": "smtp://x"}
        )
        assert mistaken.status_code == 422

    assert client.post(send_url(), data=plain_test_mail_form(smtp_server), headers=HTMX).status_code == 200


def test_a_japanese_admin_reads_the_refusal_in_japanese(limited_app, smtp_server):
    make_user(make_org(), "admin", admin=True)
    client = logged_in(limited_app, "admin")
    client.set_cookie("locale", "ja")
    for _ in range(2):
        client.post(send_url(), data=plain_test_mail_form(smtp_server), headers=HTMX)

    response = client.post(send_url(), data=plain_test_mail_form(smtp_server), headers=HTMX)

    assert response.status_code == 429
    assert "テストメールが多すぎます" in response.get_data(as_text=True)
