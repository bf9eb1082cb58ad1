"""An org admin cannot aim the settings at this machine or its network: by default the install refuses
loopback, private, link-local, CGNAT, metadata and unspecified addresses, after DNS too, on save, on
Send test mail and on delivery; EXASTRO_MAIL_SMTP_ALLOWED_HOSTS lets an operator allow a relay."""

import pytest

from exastro_mail import create_app
from exastro_mail.config import ConfigError
from exastro_mail.mailserver.endpoint import host_policy
from exastro_mail.mailserver.rules import check_settings
from exastro_mail.mailserver.testmail import MailTest, SmtpOptions, send_test_mail
from exastro_mail.store.models import MailServerSettings, OutboxMessage
from tests.conftest import VALID_SETTINGS, build_app, make_org, make_user, plain_test_mail_form
from tests.outbox_helpers import deliver, point_settings_at
from tests.test_outbox import queue

SETTINGS_URL = "/acme/platform/settings/mailserver"
HTMX = {"HX-Request": "true", "HX-Target": "test-mail-result"}
WAY_OUT = "EXASTRO_MAIL_SMTP_ALLOWED_HOSTS"
REFUSED = "This installation only connects to public addresses:"


def resolver(table):
    """A stand-in for DNS: the addresses each name resolves to; unknown names do not resolve."""

    def resolve(host):
        if host not in table:
            raise OSError(f"{host} does not resolve")
        return table[host]

    return resolve


def policy(deny="1", allowed=""):
    return host_policy({"SMTP_DENY_PRIVATE_HOSTS": deny == "1", "SMTP_ALLOWED_HOSTS": allowed})


def check_host(host, resolve=None, **policy_settings):
    return check_settings(
        {**VALID_SETTINGS, "smtp_host": host},
        password_stored=False,
        host_policy=policy(**policy_settings),
        resolve=resolve or resolver({}),
    )


@pytest.mark.parametrize(
    ("host", "reason"),
    [
        ("127.0.0.1", "a loopback address"),
        ("10.1.2.3", "a private address (10.0.0.0/8)"),
        ("192.168.0.25", "a private address (192.168.0.0/16)"),
        ("100.64.3.4", "a carrier-grade NAT address (100.64.0.0/10)"),
        ("169.254.169.254", "cloud metadata address (169.254.169.254)"),
        ("fd00:ec2::254", "cloud metadata address (fd00:ec2::254)"),
        ("169.254.10.1", "a link-local address"),
        ("0.0.0.0", "an unspecified address"),  # noqa: S104  # nosec B104  # an address refused, not bound
        ("[::]", "an unspecified address (::)"),
        ("[::1]", "a loopback address (::1)"),
        ("fd00::25", "a private address (fc00::/7)"),
        ("::ffff:127.0.0.1", "a loopback address"),
    ],
)
def test_addresses_on_this_machine_or_its_network_are_refused_by_default(host, reason):
    message = check_host(host).errors["smtp_host"]
    assert message.startswith(REFUSED)
    assert reason in message
    assert WAY_OUT in message


def test_a_name_resolving_into_a_forbidden_range_is_refused():
    resolve = resolver({"metadata.example.com": ["93.184.215.14", "169.254.169.254"]})
    message = check_host("metadata.example.com", resolve).errors["smtp_host"]
    assert "metadata.example.com resolves to 169.254.169.254, a link-local cloud metadata address" in message


def test_public_hosts_pass():
    checked = check_host(
        "smtp.example.com", resolver({"smtp.example.com": ["8.8.8.8", "2001:4860:4860::8888"]})
    )
    assert checked.ok, checked.errors
    assert check_host("8.8.4.4").ok


def test_a_name_that_does_not_resolve_now_is_left_to_the_send_time_check():
    assert check_host("not-yet.example.com").ok


@pytest.mark.parametrize(
    ("allowed", "host", "resolves_to"),
    [
        ("127.0.0.1", "127.0.0.1", None),
        ("10.0.0.25", "10.0.0.25", None),
        ("10.0.0.0/8", "10.20.30.40", None),
        ("::1", "[::1]", None),
        ("relay.internal", "relay.internal", ["10.9.9.9"]),
        ("Relay.Internal.", "RELAY.internal", ["10.9.9.9"]),
        ("192.168.0.0/16, 10.0.0.0/8", "mx.corp.example", ["10.1.1.1", "192.168.1.1"]),
    ],
)
def test_the_operator_allows_a_relay_by_address_range_or_name(allowed, host, resolves_to):
    resolve = resolver({host: resolves_to} if resolves_to else {})
    assert check_host(host, resolve, allowed=allowed).ok


def test_allowing_one_relay_keeps_refusing_its_neighbours():
    assert not check_host("10.0.0.26", allowed="10.0.0.25").ok
    assert not check_host("127.0.0.1", allowed="localhost").ok  # a name allows that name, not its address
    other = resolver({"other.internal": ["10.9.9.9"]})
    assert not check_host("other.internal", other, allowed="relay.internal").ok


def test_deny_private_hosts_0_allows_everything_and_resolves_nothing():
    def must_not_resolve(host):
        raise AssertionError("resolved although the check is off")

    assert check_host("localhost", must_not_resolve, deny="0").ok
    assert check_host("169.254.169.254", deny="0").ok


def test_the_default_install_denies_private_hosts(tmp_path):
    app = create_app({"INSTANCE_PATH": str(tmp_path / "instance"), "TESTING": True})
    assert app.config["SMTP_DENY_PRIVATE_HOSTS"] is True
    assert app.config["SMTP_ALLOWED_HOSTS"] == ()
    assert host_policy(app.config).refusal("127.0.0.1", "127.0.0.1")


@pytest.mark.parametrize("value", ["10.0.0.1/8", "999.1.1.1", "smtp://relay", "relay internal", "-relay"])
def test_an_allowed_hosts_entry_that_is_no_host_stops_the_start(tmp_path, value):
    with pytest.raises(ConfigError, match=f"EXASTRO_MAIL_SMTP_ALLOWED_HOSTS .*{value!r}"):
        create_app({"INSTANCE_PATH": str(tmp_path / "instance"), "SMTP_ALLOWED_HOSTS": value})


@pytest.fixture
def app(tmp_path):
    """The install as shipped: nothing allowed beyond public addresses."""
    return build_app(tmp_path, SMTP_ALLOWED_HOSTS="", SMTP_TIMEOUT=1)


@pytest.fixture
def admin_client(client, admin, auth):
    auth.login()
    return client


def test_saving_a_loopback_host_is_refused_next_to_the_field(admin_client):
    response = admin_client.post(SETTINGS_URL, data={**VALID_SETTINGS, "smtp_host": "localhost"})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert f'id="smtp_host-error">{REFUSED} localhost' in html
    assert WAY_OUT in html
    assert MailServerSettings.select().count() == 0


def test_a_token_url_on_loopback_is_refused_on_save(admin_client, token_endpoint):
    data = {
        **VALID_SETTINGS,
        "authentication_method": "oauth2_client_credentials",
        "oauth2_token_url": token_endpoint.entra_url(),
        "oauth2_client_id": "client",
        "oauth2_client_secret": "secret",
    }
    response = admin_client.post(SETTINGS_URL, data=data)
    assert response.status_code == 422
    assert f'id="oauth2_token_url-error">{REFUSED} 127.0.0.1' in response.get_data(as_text=True)


def test_a_test_mail_to_a_loopback_server_connects_nowhere(admin_client, smtp_server):
    response = admin_client.post(
        SETTINGS_URL + "/test-mail", data=plain_test_mail_form(smtp_server), headers=HTMX
    )
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "The test mail was not sent" in html
    assert f"{REFUSED} 127.0.0.1 is a loopback address" in html and WAY_OUT in html
    assert smtp_server.connections == 0


def test_the_test_mail_checks_again_after_dns_resolution(app, smtp_server):
    """Values that passed the rules (say, a name whose DNS changed since) still stop at resolution."""
    with app.app_context():
        organization = make_org()
        values = check_settings(
            plain_test_mail_form(smtp_server, smtp_host="localhost"), password_stored=False
        ).values
        options = SmtpOptions.from_config(app.config)
        test = MailTest.prepare(organization, values, "admin@example.com", "admin", options)
        outcome = send_test_mail(test)
    assert not outcome.diagnosis.ok
    assert outcome.diagnosis.failed_step == "Name resolution"
    assert "localhost resolves to 127.0.0.1, a loopback address" in outcome.diagnosis.reply
    assert WAY_OUT in outcome.diagnosis.hint
    assert smtp_server.connections == 0


def test_settings_saved_before_the_policy_are_not_delivered_to(app, smtp_server):
    """Settings stored while the policy was off (or by an older version) reach nothing at delivery."""
    with app.app_context():
        organization = make_org()
    point_settings_at(app, organization, smtp_server)
    (message,) = queue(app, organization)

    deliver(app)

    with app.app_context():
        failed = OutboxMessage.get_by_id(message.id)
    assert "127.0.0.1 is a loopback address" in failed.last_error and WAY_OUT in failed.last_error
    assert smtp_server.connections == 0


def test_an_allowed_local_relay_takes_the_test_mail(tmp_path, client, smtp_server):
    app = build_app(tmp_path, SMTP_ALLOWED_HOSTS="127.0.0.1")
    with app.app_context():
        make_user(make_org(), "admin", admin=True)
    relay = app.test_client()
    relay.post("/acme/login", data={"username": "admin", "password": "correct horse battery"})

    response = relay.post(SETTINGS_URL + "/test-mail", data=plain_test_mail_form(smtp_server), headers=HTMX)

    assert response.status_code == 200
    assert "The server accepted the test mail" in response.get_data(as_text=True)
    assert smtp_server.wait_for(1)
