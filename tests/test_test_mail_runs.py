"""Send test mail on a server that takes its time: the request answers at once, and the page shows the
steps as they come until the result (mailserver/test_runs.py)."""

import re
import time
from datetime import timedelta

import pytest

from exastro_mail.store.models import AuditEvent, MailTestRun, Organization, OutboxMessage, utcnow
from exastro_mail.store.retention import Retention, prune
from tests.conftest import build_app, make_org, make_user, plain_test_mail_form

SETTINGS_URL = "/acme/platform/settings/mailserver"
TEST_URL = SETTINGS_URL + "/test-mail"
HTMX = {"HX-Request": "true", "HX-Target": "test-mail-result"}
FOLLOW = re.compile(r'<a href="([^"]+)" id="test-mail-follow" hx-get="\1\?seen=(\d+)" hx-trigger="every 1s"')
PASSWORD = "typed-and-never-kept"


@pytest.fixture
def app(tmp_path):
    """Send test mail answers at once, whatever the server does."""
    app = build_app(tmp_path, TEST_MAIL_WAIT_SECONDS=0)
    with app.app_context():
        make_user(make_org(), "admin", admin=True)
    return app


@pytest.fixture
def admin_client(client, auth):
    auth.login()
    return client


def run_url(client, data) -> str:
    """Send test mail as the page without JavaScript does: the address of the run's page."""
    response = client.post(TEST_URL, data=data)
    assert response.status_code == 303
    return response.headers["Location"]


def steps_of(html):
    return re.findall(r'class="step-name">([^<]+)</span>\s*<span class="step-result">([^<]+)</span>', html)


def follow(client, url, until, seconds=10):
    """The run's fragment, asked for as htmx asks for it, until until(html)."""
    deadline = time.monotonic() + seconds
    while True:
        response = client.get(url, headers=HTMX)
        html = response.get_data(as_text=True)
        if until(html) or time.monotonic() > deadline:
            return response, html
        time.sleep(0.05)


def test_the_request_answers_at_once_and_the_page_follows_the_steps_to_the_result(admin_client, held_server):
    response = admin_client.post(TEST_URL, data=plain_test_mail_form(held_server), headers=HTMX)
    html = response.get_data(as_text=True)
    assert response.status_code == 202 and "HX-Target" in response.headers["Vary"]
    assert "the server is taking its time" in html and "Waiting for the server" in html
    url = FOLLOW.search(html).group(1)
    assert url.startswith(TEST_URL + "/")
    assert 'id="row-test_recipient" hx-swap-oob="true"' in html  # the field's row, as for a result

    # Held at RCPT TO: the steps before it are shown while the run goes on.
    response, html = follow(admin_client, url, lambda html: ("MAIL FROM", "OK") in steps_of(html))
    assert response.status_code == 200 and ("MAIL FROM", "OK") in steps_of(html)
    assert steps_of(html)[-1] == ("Next step", "Waiting for the server…")
    assert FOLLOW.search(html) and "accepted" not in html
    assert held_server.messages == []

    # Asked again as htmx asks, with the steps it shows: nothing has ended since, so nothing to swap.
    seen = FOLLOW.search(html).group(2)
    assert seen == str(len(steps_of(html)) - 1)
    again = admin_client.get(f"{url}?seen={seen}", headers=HTMX)
    assert again.status_code == 204 and again.get_data() == b"" and "HX-Target" in again.headers["Vary"]

    held_server.gate.set()
    response, html = follow(admin_client, f"{url}?seen={seen}", lambda html: "The server accepted" in html)
    assert response.status_code == 200
    assert "The server accepted the test mail to admin@example.com." in html
    assert [name for name, _ in steps_of(html)][-3:] == ["RCPT TO", "DATA", "Accepted"]
    assert "hx-get" not in html  # the result asks for nothing more
    assert len(held_server.wait_for(1)) == 1
    assert follow(admin_client, url, lambda html: True)[1] == html  # asked again: the same result


def test_the_run_is_audited_from_the_admins_address_and_in_the_delivery_log(app, admin_client, held_server):
    held_server.gate.set()
    address = {"REMOTE_ADDR": "192.0.2.7"}
    response = admin_client.post(TEST_URL, data=plain_test_mail_form(held_server), environ_base=address)
    follow(admin_client, response.headers["Location"], lambda html: "The server accepted" in html)
    with app.app_context():
        (event,) = AuditEvent.select().where(AuditEvent.action == "mail_server_settings.test_mail")
        (row,) = OutboxMessage.select()
    assert event.actor == "admin" and event.remote_addr == "192.0.2.7"
    assert '"result": "accepted"' in event.detail
    assert row.kind == "test_mail" and row.status == "sent"


def test_without_javascript_the_run_page_reloads_itself_until_the_result(admin_client, held_server):
    response = admin_client.post(TEST_URL, data=plain_test_mail_form(held_server))
    assert response.status_code == 303
    url = response.headers["Location"]
    page = admin_client.get(url).get_data(as_text=True)
    assert '<noscript><meta http-equiv="refresh" content="2"></noscript>' in page
    assert "the server is taking its time" in page and f'value="{held_server.port}"' in page

    held_server.gate.set()
    deadline = time.monotonic() + 10
    while "the server is taking its time" in page and time.monotonic() < deadline:
        time.sleep(0.05)
        page = admin_client.get(url).get_data(as_text=True)
    assert "The server accepted the test mail to admin@example.com." in page
    assert "http-equiv" not in page
    assert f'value="{held_server.port}"' in page  # the values tested stay in the form


def test_a_run_is_shown_only_to_the_admin_who_started_it(app, client, auth, held_server):
    held_server.gate.set()
    with app.app_context():
        make_user(make_org("beta", "Beta"), "admin", admin=True)
        make_user(Organization.get(org_id="acme"), "carol", admin=True)
    auth.login()
    url = run_url(client, plain_test_mail_form(held_server))
    run_id = url.rsplit("/", 1)[1]
    auth.login("carol")
    assert client.get(url, headers=HTMX).headers["Location"] == SETTINGS_URL
    auth.login("admin", org_id="beta")
    other = f"/beta/platform/settings/mailserver/test-mail/{run_id}"
    assert client.get(other).headers["Location"] == "/beta/platform/settings/mailserver"


def test_no_secret_typed_for_the_test_is_kept_with_its_run(app, admin_client, smtp_server_factory):
    server = smtp_server_factory(auth={"mailer": PASSWORD}, auth_require_tls=False)
    form = plain_test_mail_form(
        server, authentication_enable="y", authentication_user="mailer", authentication_password=PASSWORD
    )
    html = follow(admin_client, run_url(admin_client, form), lambda html: "The server accepted" in html)[1]
    assert ("AUTH", "OK") in steps_of(html)
    with app.app_context():
        (run,) = MailTestRun.select()
    assert run.outcome and PASSWORD not in run.steps + run.outcome + html


def test_a_run_whose_process_ended_under_it_is_shown_as_stopped(app, admin_client, held_server):
    response = admin_client.post(TEST_URL, data=plain_test_mail_form(held_server), headers=HTMX)
    url = FOLLOW.search(response.get_data(as_text=True)).group(1)
    with app.app_context():  # as a run looks once its deadline passed with no outcome
        MailTestRun.update(deadline_at=utcnow() - timedelta(seconds=1)).execute()
    html = admin_client.get(url, headers=HTMX).get_data(as_text=True)
    assert "stopped before its end" in html and 'role="alert"' in html and "hx-get" not in html
    held_server.gate.set()


def test_runs_are_forgotten_a_day_after_their_deadline(app, admin_client, held_server):
    held_server.gate.set()
    url = run_url(admin_client, plain_test_mail_form(held_server))
    follow(admin_client, url, lambda html: "The server accepted" in html)
    retention = Retention.from_config(app.config, done=("sent",), failed="failed")
    with app.app_context():
        assert prune(retention, now=utcnow() + timedelta(hours=23)).removed["test_mail_runs"] == 0
        assert prune(retention, now=utcnow() + timedelta(days=1, minutes=1)).removed["test_mail_runs"] == 1
        assert MailTestRun.select().count() == 0
    assert admin_client.get(url).headers["Location"] == SETTINGS_URL


def test_a_run_that_breaks_is_shown_as_stopped_at_once(app, admin_client, smtp_server, monkeypatch):
    def broken(*_args, **_kwargs):
        raise RuntimeError("the audit log's disk is full")

    monkeypatch.setattr("exastro_mail.mailserver.testmail.audit.record", broken)
    response = admin_client.post(TEST_URL, data=plain_test_mail_form(smtp_server), headers=HTMX)
    html = response.get_data(as_text=True)
    if "stopped before its end" not in html:  # it broke after the answer
        url = FOLLOW.search(html).group(1)
        html = follow(admin_client, url, lambda html: "stopped before its end" in html, seconds=2)[1]
    assert "stopped before its end" in html and "hx-get" not in html
    with app.app_context():
        (run,) = MailTestRun.select()
    assert run.finished_at is not None and run.outcome is None
