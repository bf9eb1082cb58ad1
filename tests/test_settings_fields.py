"""The settings fields are declared once: the form, its HTML limits, the API and delivery all follow it."""

import re
import socket

import pytest

from exastro_mail.mailserver.endpoint import SmtpOptions, endpoint_for
from exastro_mail.mailserver.fields import BOOL, CHOICE, FIELDS
from exastro_mail.mailserver.forms import MailServerForm
from exastro_mail.outbox import worker
from exastro_mail.smtp.endpoint import ehlo_name_for
from exastro_mail.store import secretbox
from exastro_mail.store.models import MailServerSettings
from tests.api_helpers import EXASTRO_SETTINGS, SETTINGS
from tests.conftest import VALID_SETTINGS

URL = "/acme/platform/settings/mailserver"
OPTIONS = SmtpOptions(timeout=3.0)
CHECKED = {
    "smtp_host": "smtp.example.com",
    "smtp_port": 587,
    "encryption": "starttls",
    "authentication_user": "mailer",
    "trusted_ca_pem": None,
}


@pytest.fixture
def admin_client(client, admin, auth):
    auth.login()
    return client


def test_every_declared_field_is_an_input_of_the_settings_form(app):
    with app.test_request_context():
        form = MailServerForm()
    assert [name for name in FIELDS if name in form] == list(FIELDS)


@pytest.mark.parametrize(
    "declared",
    [f for f in FIELDS.values() if f.kind not in (BOOL, CHOICE)],
    ids=lambda declared: declared.name,
)
def test_the_settings_page_carries_each_fields_declared_limits(admin_client, declared):
    html = admin_client.get(URL).get_data(as_text=True)

    [tag] = re.findall(rf'<(?:input|textarea)[^>]*\bid="{declared.name}"[^>]*>', html)
    assert f'maxlength="{declared.max_length}"' in tag
    assert (" required" in tag) is declared.required


def test_the_settings_page_offers_every_declared_choice(admin_client):
    html = admin_client.get(URL).get_data(as_text=True)

    for value, _label in FIELDS["encryption"].choices:
        assert re.search(rf'<input[^>]*name="encryption"[^>]*value="{value}"', html)
    assert re.search(r'<input[^>]*id="authentication_enable"[^>]*type="checkbox"', html)


def test_the_api_shows_every_declared_field_under_its_exastro_name_and_never_a_secret(api):
    api.post(SETTINGS, json=EXASTRO_SETTINGS)

    data = api.get(SETTINGS).json["data"]

    shown = set()
    for declared in FIELDS.values():
        if declared.write_only:
            shown.add(f"{declared.api_key}_set")
            # An Exastro body sets the password; the other secrets belong to other methods.
            assert data[f"{declared.api_key}_set"] is (declared.name == "authentication_password")
        elif declared.api_flags:
            shown.update(flag for _value, flag in declared.api_flags)
        else:
            shown.add(declared.api_key)
    # And, as Exastro's GET, who registered and last changed them, and when.
    shown.update(("create_timestamp", "create_user", "last_update_timestamp", "last_update_user"))
    assert set(data) == shown
    assert EXASTRO_SETTINGS["authentication_password"] not in str(data)


def test_the_endpoint_has_the_user_and_password_only_with_authentication_on():
    off = endpoint_for({**CHECKED, "authentication_enable": False}, "s3cret", OPTIONS)
    on = endpoint_for({**CHECKED, "authentication_enable": True}, "s3cret", OPTIONS)

    assert (off.username, off.password) == (None, None)
    assert (on.username, on.password) == ("mailer", "s3cret")
    assert (on.host, on.port, on.encryption, on.timeout) == ("smtp.example.com", 587, "starttls", 3.0)


@pytest.mark.parametrize("authentication", [True, False])
def test_delivery_and_the_test_mail_connect_to_the_same_endpoint(app, authentication):
    with app.app_context():
        saved = MailServerSettings(
            **{**CHECKED, "authentication_enable": authentication},
            authentication_password_sealed=secretbox.seal(VALID_SETTINGS["authentication_password"]),
        )
        delivered = worker.endpoint_for(saved, app.config)
    tested = endpoint_for(
        {**CHECKED, "authentication_enable": authentication},
        VALID_SETTINGS["authentication_password"],
        SmtpOptions.from_config(app.config),
    )

    assert delivered == tested
    assert (delivered.username is not None) is authentication


@pytest.mark.parametrize(
    ("config", "name"),
    [
        ({"BASE_URL": "https://mail.acme.example/exastro"}, "mail.acme.example"),
        ({"BASE_URL": "https://メール.acme.example"}, "xn--4dkua4c.acme.example"),
        ({"BASE_URL": "http://192.0.2.10:8000"}, "[192.0.2.10]"),
        ({"BASE_URL": "http://[2001:db8::1]:8000"}, "[IPv6:2001:db8::1]"),
        (
            {"BASE_URL": "https://mail.acme.example", "SMTP_EHLO_NAME": "mailer.acme.example"},
            "mailer.acme.example",
        ),
    ],
)
def test_the_name_given_in_ehlo_is_the_configured_one_else_the_base_urls_host(config, name):
    assert SmtpOptions.from_config({"SMTP_TIMEOUT": 3, **config}).ehlo_name == name


def test_without_a_base_url_ehlo_gives_this_machines_full_name():
    assert SmtpOptions.from_config({"SMTP_TIMEOUT": 3, "BASE_URL": None}).ehlo_name == ehlo_name_for(
        socket.getfqdn()
    )
