"""An org admin sends a test mail from the settings page and reads each step of the conversation."""

import random
import re
import time

import pytest
from aiosmtpd.controller import Controller

from exastro_mail.store.models import AuditEvent, MailServerSettings, Organization, OutboxMessage
from tests.conftest import VALID_SETTINGS, build_app, make_org, make_user

SETTINGS_URL = "/acme/platform/settings/mailserver"
TEST_URL = SETTINGS_URL + "/test-mail"
HTMX = {"HX-Request": "true", "HX-Target": "test-mail-result"}
SMTP_TIMEOUT = 1.0
PASSWORD = VALID_SETTINGS["authentication_password"]
ENCRYPTION = {"plain": "none", "starttls": "starttls", "implicit": "ssl"}


@pytest.fixture
def app(tmp_path, smtp_ca):
    """The app trusting the test CA install-wide, with a short SMTP timeout."""
    app = build_app(tmp_path, SMTP_TIMEOUT=SMTP_TIMEOUT, SMTP_CA_FILE=smtp_ca.ca_file)
    with app.app_context():
        yield app


@pytest.fixture
def admin_client(client, admin, auth):
    auth.login()
    return client


def form_for(server, **changes):
    """The settings form filled in for a test server, without authentication."""
    data = {
        **VALID_SETTINGS,
        "smtp_host": server.host,
        "smtp_port": str(server.port),
        "encryption": ENCRYPTION[getattr(server, "mode", "plain")],
        "authentication_enable": "",
        "authentication_user": "",
        "authentication_password": "",
        "trusted_ca_pem": "",
        "test_recipient": "admin@example.com",
    }
    data.update(changes)
    return data


def with_auth(data, user="mailer", password=PASSWORD):
    return {
        **data,
        "authentication_enable": "y",
        "authentication_user": user,
        "authentication_password": password,
    }


def send_test(client, data, htmx=True):
    response = client.post(TEST_URL, data=data, headers=HTMX if htmx else {})
    return response, response.get_data(as_text=True)


def steps_of(html):
    """(step name, result) pairs of the step list, in order."""
    return re.findall(r'class="step-name">([^<]+)</span>\s*<span class="step-result">([^<]+)</span>', html)


def outcome_of(html):
    return re.search(r'id="test-mail-outcome"[^>]*>(.*?)</p>', html, re.S).group(1)


def test_success_lists_every_step_and_the_mail_arrives(admin_client, smtp_server):
    response, html = send_test(admin_client, form_for(smtp_server, test_recipient="ops@example.net"))
    assert response.status_code == 200
    assert "<html" not in html
    assert "HX-Target" in response.headers["Vary"]
    assert "The server accepted the test mail to ops@example.net." in outcome_of(html)
    assert steps_of(html) == [
        ("Name resolution", "OK"),
        ("TCP connect", "OK"),
        ("TLS", "not used"),  # neutral, not a green OK: these settings use neither TLS nor AUTH
        ("EHLO", "OK"),
        ("AUTH", "not used"),
        ("MAIL FROM", "OK"),
        ("RCPT TO", "OK"),
        ("DATA", "OK"),
        ("Accepted", "OK"),
    ]
    assert html.count('class="step step-unused"') == 2
    assert "250 2.0.0 OK queued as Q1" in html
    [received] = smtp_server.wait_for(1)
    assert received.recipients == ["ops@example.net"]
    assert received.envelope_from == "bounces@example.com"
    assert received.message["Subject"] == "Test mail from ACME Corp"
    assert received.message["From"] == "ACME notifications <noreply@example.com>"
    assert received.message["Auto-Submitted"] == "auto-generated"
    [row] = OutboxMessage.select()  # a diagnosis, not a queued mail: only its record for the delivery log
    assert (row.kind, row.status, row.body_text) == ("test_mail", "sent", None)


def test_starttls_with_authentication_shows_the_verified_certificate(admin_client, smtp_server_factory):
    server = smtp_server_factory(mode="starttls", auth={"mailer": PASSWORD})
    response, html = send_test(admin_client, with_auth(form_for(server)))
    assert response.status_code == 200, html
    assert re.search(r"STARTTLS, TLSv1\.[23], certificate [^<]*localhost[^<]* verified", html)
    assert "accepted for mailer" in html
    [received] = server.wait_for(1)
    assert received.tls and received.authenticated_user == "mailer"
    assert PASSWORD not in html


def test_recipient_defaults_to_the_admins_own_address(admin_client):
    html = admin_client.get(SETTINGS_URL).get_data(as_text=True)
    assert re.search(r'<input[^>]*id="test_recipient"[^>]*value="admin@example.com"', html)
    assert 'id="send-test-mail"' in html and 'hx-target="#test-mail-result"' in html


def test_rejected_login_shows_535_and_the_hint_but_never_the_password(admin_client, smtp_server_factory):
    server = smtp_server_factory(mode="starttls", auth={"mailer": "the-right-one"})
    response, html = send_test(admin_client, with_auth(form_for(server)))
    assert response.status_code == 200
    assert "failed at <strong>AUTH</strong> (server code 535)" in outcome_of(html)
    assert "535" in outcome_of(html)
    assert "The server rejected the user name or password." in html
    assert ("AUTH", "Failed") in steps_of(html) and ("MAIL FROM", "Not reached") in steps_of(html)
    assert PASSWORD not in html
    assert server.messages == []
    event = AuditEvent.get(AuditEvent.action == "mail_server_settings.test_mail")
    assert '"result": "failed"' in event.detail and PASSWORD not in event.detail


def test_server_without_starttls_gets_no_credentials(admin_client, smtp_server_factory):
    server = smtp_server_factory(mode="starttls", offer_starttls=False, auth={"mailer": PASSWORD})
    response, html = send_test(admin_client, with_auth(form_for(server)))
    assert "failed at <strong>TLS</strong>" in outcome_of(html)
    assert "does not offer STARTTLS" in html
    assert "ask its administrator to enable STARTTLS" in html
    assert "AUTH" not in server.commands and "MAIL" not in server.commands


def test_certificate_for_another_host_names_the_mismatch(admin_client, smtp_server_factory):
    server = smtp_server_factory(mode="implicit", cert="wrong_host")
    _, html = send_test(admin_client, form_for(server))
    assert "failed at <strong>TLS</strong>" in outcome_of(html)
    assert "certificate verify failed" in html
    assert "The certificate&#39;s names do not include the host 127.0.0.1." in html
    assert server.messages == []


def test_self_signed_certificate_suggests_adding_its_ca(admin_client, smtp_server_factory):
    server = smtp_server_factory(mode="starttls", cert="self_signed")
    _, html = send_test(admin_client, form_for(server))
    assert "failed at <strong>TLS</strong>" in outcome_of(html)
    assert "add that CA certificate as the Trusted CA certificate" in html


def test_stalled_server_answers_within_the_deadline(admin_client, stalling_server):
    started = time.monotonic()
    response, html = send_test(admin_client, form_for(stalling_server))
    elapsed = time.monotonic() - started
    assert elapsed < SMTP_TIMEOUT + 2 + 1
    assert response.status_code == 200
    assert "failed at <strong>EHLO</strong>" in outcome_of(html)
    assert "timed out" in outcome_of(html)
    assert "The server sent no greeting" in html


def test_starttls_on_an_implicit_tls_port_does_not_hang(admin_client, smtp_server_factory):
    server = smtp_server_factory(mode="implicit")
    started = time.monotonic()
    _, html = send_test(admin_client, form_for(server, encryption="starttls"))
    assert time.monotonic() - started < SMTP_TIMEOUT + 2 + 1
    assert "timed out" in outcome_of(html)
    assert "if it expects TLS from the start, choose SSL/TLS" in html


@pytest.fixture
def server_on_port_587(smtp_ca):
    """A plain SMTP server on port 587 of a loopback address of its own (587 needs no privileges)."""

    class Accept:
        async def handle_DATA(self, server, session, envelope):
            return "250 OK"

    for _ in range(5):
        host = f"127.{random.randint(1, 254)}.{random.randint(1, 254)}.{random.randint(2, 254)}"
        controller = Controller(Accept(), hostname=host, port=587)
        try:
            controller.start()
        except OSError:
            continue
        controller.host = host
        yield controller
        controller.stop()
        return
    raise AssertionError("no loopback address with port 587 free")


def test_ssl_on_the_starttls_port_gets_the_port_hint(admin_client, server_on_port_587):
    _, html = send_test(admin_client, form_for(server_on_port_587, encryption="ssl"))
    assert "failed at <strong>TLS</strong>" in outcome_of(html)
    assert "Port 587 usually expects STARTTLS." in html


def test_bad_fields_are_listed_and_nothing_is_sent(admin_client, smtp_server):
    response, html = send_test(
        admin_client, form_for(smtp_server, smtp_host="smtp://x", test_recipient="nope")
    )
    assert response.status_code == 422
    assert "The test mail was not sent" in html
    assert '<a href="#smtp_host">SMTP server host</a>: Enter the host name only' in html
    assert '<a href="#test_recipient">Send the test mail to</a>: This is not a valid mail address' in html
    assert smtp_server.connections == 0


def test_without_javascript_the_result_comes_after_a_redirect_and_a_reload_sends_nothing(
    admin_client, smtp_server
):
    response, _ = send_test(admin_client, with_auth(form_for(smtp_server)), htmx=False)
    run_url = response.headers["Location"]
    assert response.status_code == 303 and re.fullmatch(re.escape(TEST_URL) + r"/[\w-]{22}", run_url)
    response = admin_client.get(run_url)
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "<html" in html and 'id="mailserver-form"' in html
    assert outcome_of(html)
    assert re.search(r'id="test-mail-result"[^>]*>\s*<div class="test-result test-result-', html)
    assert f'value="{smtp_server.port}"' in html  # the values tested stay in the form
    assert PASSWORD not in html
    assert MailServerSettings.select().count() == 0  # a test saves nothing
    assert admin_client.get(run_url).status_code == 200  # the reload
    assert admin_client.get(TEST_URL).headers["Location"] == run_url  # the address earlier versions used
    assert smtp_server.connections == 1


def test_opening_the_test_mail_url_without_a_result_goes_to_the_settings(admin_client):
    response = admin_client.get(TEST_URL)
    assert response.status_code == 303 and response.headers["Location"] == SETTINGS_URL


def test_a_bad_recipient_is_marked_on_its_field_as_register_marks_fields(admin_client, smtp_server):
    response, html = send_test(admin_client, form_for(smtp_server, test_recipient="ops@"))
    assert response.status_code == 422
    row = re.search(
        r'<div class="field has-error" id="row-test_recipient" hx-swap-oob="true">.*?</div>', html, re.S
    )
    assert row, html
    assert 'aria-invalid="true"' in row.group(0) and 'aria-describedby="test_recipient-error"' in row.group(0)
    assert "Add the domain after the @, as in name@example.com." in row.group(0)
    assert smtp_server.connections == 0


def test_blank_password_uses_the_stored_one(admin_client, smtp_server_factory):
    server = smtp_server_factory(mode="starttls", auth={"mailer": PASSWORD})
    assert admin_client.post(SETTINGS_URL, data=with_auth(form_for(server))).status_code == 303
    response, html = send_test(admin_client, with_auth(form_for(server), password=""))
    assert response.status_code == 200 and "accepted" in outcome_of(html), html
    assert server.wait_for(1)[0].authenticated_user == "mailer"


def status_of(client):
    html = client.get(SETTINGS_URL).get_data(as_text=True)
    return " ".join(re.search(r'id="test-status"[^>]*>(.*?)</p>', html, re.S).group(1).split())


def test_saved_settings_show_whether_they_were_verified(admin_client, smtp_server, closed_port):
    saved = form_for(smtp_server)
    admin_client.post(SETTINGS_URL, data=saved)
    assert "Not tested yet." in status_of(admin_client)

    _, html = send_test(admin_client, saved)
    assert 'id="test-status" class="test-status test-status-accepted" hx-swap-oob="true"' in html
    status = status_of(admin_client)
    assert re.search(r"Test mail accepted at <time datetime=\"\d{4}-\d\d-\d\dT[\d:]{8}Z\">", status)
    assert "250 2.0.0 OK" in status

    _, html = send_test(admin_client, {**saved, "smtp_port": str(closed_port)})
    assert "which are not saved: the status of the saved settings is unchanged" in html
    assert 'id="test-status"' not in html
    assert "Test mail accepted at" in status_of(admin_client)

    smtp_server.stop()
    send_test(admin_client, saved)
    status = status_of(admin_client)
    assert "Last test failed at <time" in status and "TCP connect: connection refused" in status

    admin_client.post(SETTINGS_URL, data={**saved, "send_name": "Renamed"})
    assert "Not tested yet." in status_of(admin_client)


def test_test_mail_is_audited_with_its_result(admin_client, smtp_server):
    send_test(admin_client, form_for(smtp_server))
    event = AuditEvent.get(AuditEvent.action == "mail_server_settings.test_mail")
    assert event.actor == "admin"
    assert '"result": "accepted"' in event.detail
    assert '"recipient": "admin@example.com"' in event.detail
    assert '"tested": "unsaved values"' in event.detail


def test_only_this_orgs_admins_may_send_a_test_mail(client, admin, plain_user, auth, smtp_server):
    data = form_for(smtp_server)
    response = client.post(TEST_URL, data=data)
    assert response.status_code == 302 and response.headers["Location"].startswith("/acme/login")
    response = client.post(TEST_URL, data=data, headers=HTMX)
    assert response.headers["HX-Redirect"].startswith("/acme/login") and b"<form" not in response.data
    auth.login("bob")
    assert client.post(TEST_URL, data=data).status_code == 403
    make_user(make_org("globex", "Globex"), "hank", admin=True)
    auth.login("hank", org_id="globex")
    assert client.post(TEST_URL, data=data).status_code == 404
    assert client.get(TEST_URL).status_code == 404  # only a POST sends, and only in one's own organization
    assert smtp_server.connections == 0


def test_a_stored_password_that_cannot_be_decrypted_asks_for_it_again(admin_client, smtp_server_factory):
    server = smtp_server_factory(mode="starttls", auth={"mailer": PASSWORD})
    admin_client.post(SETTINGS_URL, data=with_auth(form_for(server)))
    MailServerSettings.update(authentication_password_sealed="sealed with a key since replaced").execute()
    response, html = send_test(admin_client, with_auth(form_for(server), password=""))
    assert response.status_code == 422
    assert "Authentication password</a>: The stored SMTP password cannot be decrypted" in html
    assert server.connections == 0


def test_another_admin_in_the_same_browser_does_not_see_the_last_result(client, admin, auth, smtp_server):
    make_user(Organization.get(), "carol", admin=True)
    auth.login()
    sent = send_test(client, form_for(smtp_server), htmx=False)[0]
    run_url = sent.headers["Location"]
    assert sent.status_code == 303 and client.get(run_url).status_code == 200
    auth.login("carol")
    assert client.get(TEST_URL).headers["Location"] == SETTINGS_URL
    # nor by its address: the run is its admin's
    assert client.get(run_url).headers["Location"] == SETTINGS_URL
