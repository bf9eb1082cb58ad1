"""With EXASTRO_MAIL_SMTP_DENY_PRIVATE_HOSTS=1 an org admin cannot aim the SMTP settings at internal hosts."""

import pytest

from exastro_mail.mailserver.rules import check_settings
from exastro_mail.mailserver.testmail import SmtpOptions, send_test_mail
from exastro_mail.store.models import MailServerSettings
from tests.conftest import VALID_SETTINGS, build_app

SETTINGS_URL = "/acme/platform/settings/mailserver"
HTMX = {"HX-Request": "true", "HX-Target": "test-mail-result"}


def resolver(table):
    """A stand-in for DNS: the addresses each name resolves to; unknown names do not resolve."""

    def resolve(host):
        if host not in table:
            raise OSError(f"{host} does not resolve")
        return table[host]

    return resolve


def check_host(host, resolve=None, deny=True):
    return check_settings(
        {**VALID_SETTINGS, "smtp_host": host}, password_stored=False, deny_private_hosts=deny, resolve=resolve
    )


@pytest.mark.parametrize(
    ("host", "reason"),
    [
        ("127.0.0.1", "a loopback address"),
        ("10.1.2.3", "a private address (10.0.0.0/8)"),
        ("192.168.0.25", "a private address (192.168.0.0/16)"),
        ("169.254.169.254", "a link-local address"),
        ("[::1]", "a loopback address (::1)"),
        ("fd00::25", "a private address (fc00::/7)"),
    ],
)
def test_ip_literals_in_forbidden_ranges_are_refused(host, reason):
    checked = check_host(host, resolver({}))
    message = checked.errors["smtp_host"]
    assert message.startswith("This installation only allows SMTP servers on public addresses:")
    assert reason in message


def test_a_name_resolving_into_a_forbidden_range_is_refused():
    resolve = resolver({"metadata.example.com": ["93.184.215.14", "169.254.169.254"]})
    message = check_host("metadata.example.com", resolve).errors["smtp_host"]
    assert "metadata.example.com resolves to 169.254.169.254, a link-local address" in message


def test_public_hosts_pass():
    checked = check_host(
        "smtp.example.com", resolver({"smtp.example.com": ["8.8.8.8", "2001:4860:4860::8888"]})
    )
    assert checked.ok, checked.errors
    assert check_host("8.8.4.4", resolver({})).ok


def test_a_name_that_does_not_resolve_now_is_left_to_the_send_time_check():
    assert check_host("not-yet.example.com", resolver({})).ok


def test_off_by_default_so_a_local_relay_is_allowed():
    def must_not_resolve(host):
        raise AssertionError("resolved although the check is off")

    assert check_settings({**VALID_SETTINGS, "smtp_host": "127.0.0.1"}, password_stored=False).ok
    assert check_host("localhost", must_not_resolve, deny=False).ok


@pytest.fixture
def app(tmp_path):
    app = build_app(tmp_path, SMTP_DENY_PRIVATE_HOSTS="1", SMTP_TIMEOUT=1)
    with app.app_context():
        yield app


@pytest.fixture
def admin_client(client, admin, auth):
    auth.login()
    return client


def test_saving_a_loopback_host_is_refused_next_to_the_field(admin_client):
    response = admin_client.post(SETTINGS_URL, data={**VALID_SETTINGS, "smtp_host": "localhost"})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert (
        'id="smtp_host-error">This installation only allows SMTP servers on public addresses: localhost'
        in html
    )
    assert MailServerSettings.select().count() == 0


def test_a_test_mail_to_a_loopback_server_connects_nowhere(admin_client, smtp_server):
    data = {
        **VALID_SETTINGS,
        "smtp_host": smtp_server.host,
        "smtp_port": str(smtp_server.port),
        "encryption": "none",
        "test_recipient": "admin@example.com",
    }
    response = admin_client.post(SETTINGS_URL + "/test-mail", data=data, headers=HTMX)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "The test mail was not sent" in html
    assert "only allows SMTP servers on public addresses: 127.0.0.1 is a loopback address" in html
    assert smtp_server.connections == 0


def test_the_test_mail_checks_again_after_dns_resolution(app, org, smtp_server):
    """Values that passed the rules (say, a name whose DNS changed since) still stop at resolution."""
    values = check_settings(
        {
            **VALID_SETTINGS,
            "smtp_host": "localhost",
            "smtp_port": str(smtp_server.port),
            "encryption": "none",
            "authentication_enable": "",
        },
        password_stored=False,
    ).values
    outcome = send_test_mail(org, values, "admin@example.com", "admin", SmtpOptions.from_config(app.config))
    assert not outcome.diagnosis.ok
    assert outcome.diagnosis.failed_step == "Name resolution"
    assert "localhost resolves to 127.0.0.1, a loopback address" in outcome.diagnosis.reply
    assert smtp_server.connections == 0
