"""An org admin trusts a private CA for its SMTP server: only certificates are accepted, and TLS uses them."""

import datetime
import re

import pytest
import trustme
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from exastro_mail.mailserver.certificates import describe_certificates
from exastro_mail.mailserver.fields import MAX_CA_PEM_LENGTH
from exastro_mail.mailserver.rules import check_settings
from exastro_mail.store.models import MailServerSettings
from tests.conftest import VALID_SETTINGS, build_app

SETTINGS_URL = "/acme/platform/settings/mailserver"
HTMX = {"HX-Request": "true", "HX-Target": "test-mail-result"}


@pytest.fixture(scope="module")
def ca_pem():
    return trustme.CA().cert_pem.bytes().decode()


def expired_certificate_pem():
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Old Private CA")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=400))
        .not_valid_after(now - datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return certificate.public_bytes(serialization.Encoding.PEM).decode()


def private_key_pem():
    key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def check_ca(pem):
    return check_settings({**VALID_SETTINGS, "trusted_ca_pem": pem}, password_stored=False)


def test_a_ca_certificate_is_accepted_and_stored_as_clean_pem(ca_pem):
    pasted = "# our private CA, from the mail team\n\n" + ca_pem.replace("\n", "\r\n") + "\n\n"
    checked = check_ca(pasted)
    assert checked.ok, checked.errors
    assert checked.values["trusted_ca_pem"] == ca_pem


def test_several_certificates_are_accepted(ca_pem):
    other = trustme.CA().cert_pem.bytes().decode()
    assert check_ca(ca_pem + other).values["trusted_ca_pem"] == ca_pem + other


def test_blank_means_no_private_ca():
    assert check_ca("   \n").values["trusted_ca_pem"] is None


def test_without_the_field_the_rules_leave_it_alone():
    """The settings API (Exastro's field set) does not send it; its stored value must then stay."""
    assert "trusted_ca_pem" not in check_settings(VALID_SETTINGS, password_stored=False).values


@pytest.mark.parametrize(
    ("pasted", "message"),
    [
        (private_key_pem(), "This is a private key"),
        ("-----BEGIN RSA PRIVATE KEY-----\nMIIB\n-----END RSA PRIVATE KEY-----\n", "This is a private key"),
        ("hello, this is my certificate", "Paste a certificate in PEM format"),
        ("-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n", "not a readable PEM"),
        ("-----BEGIN CERTIFICATE-----\nMIIB", "not a readable PEM"),
        ("-----BEGIN PUBLIC KEY-----\nMIIB\n-----END PUBLIC KEY-----\n", "not: PUBLIC KEY"),
        (expired_certificate_pem(), "CN=Old Private CA expired on"),
    ],
)
def test_keys_garbage_and_expired_certificates_are_refused(pasted, message):
    checked = check_ca(pasted)
    assert message in checked.errors["trusted_ca_pem"]
    assert "trusted_ca_pem" not in checked.values


def test_size_is_limited(ca_pem):
    checked = check_ca(ca_pem * (MAX_CA_PEM_LENGTH // len(ca_pem) + 1))
    assert checked.errors["trusted_ca_pem"] == "Paste at most 64 KiB of certificates."


@pytest.fixture
def app(tmp_path):
    """The app trusting no test CA install-wide: only the organization's own PEM can make TLS verify."""
    app = build_app(tmp_path, SMTP_TIMEOUT=1)
    with app.app_context():
        yield app


@pytest.fixture
def admin_client(client, admin, auth):
    auth.login()
    return client


def test_admin_saves_a_ca_and_sees_which_certificate_is_trusted(admin_client, ca_pem):
    response = admin_client.post(SETTINGS_URL, data={**VALID_SETTINGS, "trusted_ca_pem": ca_pem})
    assert response.status_code == 303
    assert MailServerSettings.get().trusted_ca_pem == ca_pem
    html = admin_client.get(SETTINGS_URL).get_data(as_text=True)
    assert ">Trusted CA certificate (PEM)<" in html
    assert re.search(r'id="trusted-certificates".*O=trustme v[\d.]+.*valid until \d{4}-\d\d-\d\d', html, re.S)
    assert "-----BEGIN CERTIFICATE-----" in html  # the textarea shows it for editing


def test_a_pasted_private_key_is_refused_and_not_sent_back(admin_client):
    key = private_key_pem()
    response = admin_client.post(SETTINGS_URL, data={**VALID_SETTINGS, "trusted_ca_pem": key})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert 'id="trusted_ca_pem-error">This is a private key' in html
    assert "PRIVATE KEY" not in html.replace("This is a private key", "")
    assert key.splitlines()[1] not in html
    assert MailServerSettings.select().count() == 0


def test_the_organizations_ca_makes_a_private_ca_server_verify(admin_client, smtp_server_factory, smtp_ca):
    server = smtp_server_factory(mode="implicit")
    data = {
        **VALID_SETTINGS,
        "smtp_host": server.host,
        "smtp_port": str(server.port),
        "encryption": "ssl",
        "authentication_enable": "",
        "test_recipient": "admin@example.com",
    }
    html = admin_client.post(SETTINGS_URL + "/test-mail", data=data, headers=HTMX).get_data(as_text=True)
    assert "add that CA certificate as the Trusted CA certificate" in html

    trusted = {**data, "trusted_ca_pem": smtp_ca.ca_pem}
    response = admin_client.post(SETTINGS_URL + "/test-mail", data=trusted, headers=HTMX)
    assert response.status_code == 200
    assert "The server accepted the test mail" in response.get_data(as_text=True)
    assert server.wait_for(1)[0].tls


def test_the_page_names_a_saved_certificate_that_has_since_expired(ca_pem):
    [line] = describe_certificates(expired_certificate_pem())
    assert line.startswith("CN=Old Private CA, expired on ")
    assert ", valid until " in describe_certificates(ca_pem)[0]
    assert describe_certificates("garbage") == ["The stored certificate cannot be read; paste it again."]
