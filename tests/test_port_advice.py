"""The port and encryption advice: the save-time warning and the test-mail hint read one table."""

import itertools

import pytest

from exastro_mail.mailserver.hints import hint
from exastro_mail.mailserver.rules import check_settings
from exastro_mail.smtp.endpoint import ENCRYPTIONS, SmtpEndpoint
from exastro_mail.smtp.errors import DeliveryError
from tests.conftest import VALID_SETTINGS

PAIRS = list(itertools.product((25, 465, 587, 2525), ENCRYPTIONS))


def save_time_warning(port: int, encryption: str) -> str | None:
    checked = check_settings(
        {**VALID_SETTINGS, "smtp_port": str(port), "encryption": encryption}, password_stored=False
    )
    assert checked.ok
    return checked.warnings.get("smtp_port")


def hint_when_tls_goes_wrong(port: int, encryption: str) -> str | None:
    error = DeliveryError(
        "the server closed the connection", permanent=False, step="ehlo", kind="disconnected"
    )
    return hint(SmtpEndpoint(host="smtp.example.com", port=port, encryption=encryption), error)


@pytest.mark.parametrize(("port", "encryption"), PAIRS)
def test_saving_warns_about_exactly_the_pairs_the_test_mail_hints_at(port, encryption):
    warning, advice = save_time_warning(port, encryption), hint_when_tls_goes_wrong(port, encryption)

    assert (warning is None) == (advice is None)
    if warning:
        assert warning.startswith(f"Port {port} is usually used with ")
        assert advice.startswith(f"Port {port} usually expects ")


@pytest.mark.parametrize(
    ("port", "encryption", "warning"),
    [
        (465, "none", "Port 465 is usually used with SSL/TLS, not without encryption."),
        (465, "starttls", "Port 465 is usually used with SSL/TLS, not STARTTLS."),
        (587, "ssl", "Port 587 is usually used with STARTTLS, not SSL/TLS."),
        (587, "none", "Port 587 is usually used with STARTTLS, not without encryption."),
        (25, "ssl", "Port 25 is usually used with STARTTLS or no encryption, not SSL/TLS."),
    ],
)
def test_each_unusual_pair_names_the_usual_encryption(port, encryption, warning):
    assert save_time_warning(port, encryption).startswith(warning)


@pytest.mark.parametrize(("port", "encryption"), [(25, "none"), (25, "starttls"), (2525, "ssl")])
def test_usual_pairs_and_other_ports_save_without_a_warning(port, encryption):
    assert save_time_warning(port, encryption) is None
