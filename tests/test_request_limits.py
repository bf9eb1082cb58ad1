"""What a client may send: pages take at most 1 MiB, the API its own 8 MiB; past that, a 413 page."""

from exastro_mail.store.models import MailServerSettings
from tests.api_helpers import NOTIFICATIONS, SETTINGS, basic
from tests.conftest import DEFAULT_PASSWORD, VALID_SETTINGS

MIB = 1024 * 1024


def test_an_oversized_login_post_gets_the_413_page_before_anything_is_read(client, admin):
    response = client.post("/acme/login", data={"username": "admin", "password": "x" * (3 * MIB)})
    assert response.status_code == 413
    page = response.get_data(as_text=True)
    assert response.mimetype == "text/html"
    assert "What was sent is too large." in page
    assert client.get("/acme/platform/").status_code == 302  # not logged in


def test_a_japanese_visitor_gets_the_413_page_in_japanese(client, admin):
    response = client.post(
        "/acme/login",
        data={"username": "a" * (2 * MIB)},
        headers={"Accept-Language": "ja"},
    )
    assert response.status_code == 413
    assert "送信された内容が大きすぎます。" in response.get_data(as_text=True)


def test_settings_with_the_largest_trusted_ca_still_fit(client, admin, auth):
    auth.login()
    big_garbage = "-----BEGIN CERTIFICATE-----\n" + "A" * (64 * 1024 - 60) + "\n-----END CERTIFICATE-----\n"
    response = client.post(
        "/acme/platform/settings/mailserver", data={**VALID_SETTINGS, "trusted_ca_pem": big_garbage}
    )
    assert response.status_code == 422  # judged field by field, not refused for its size
    assert "readable PEM certificate" in response.get_data(as_text=True)
    assert MailServerSettings.select().count() == 0


def test_the_api_keeps_its_own_limit_above_the_pages_one(client, admin):
    response = client.post(SETTINGS, json={"send_name": "x" * (2 * MIB)}, headers=basic("admin"))
    assert response.status_code == 400  # read and judged: not a 413 at the pages' 1 MiB
    assert response.json["result"] == "400-00011"  # Exastro's first check: smtp_host is missing
    assert "at most 100" in response.json["errors"]["send_name"]
    too_big = client.post(
        NOTIFICATIONS,
        data=b'{"message": "' + b"x" * (9 * MIB) + b'"}',
        headers={**basic("admin", DEFAULT_PASSWORD), "Content-Type": "application/json"},
    )
    assert too_big.status_code == 413
    assert too_big.json["result"] == "413-00001"
