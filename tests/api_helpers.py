"""Helpers for the JSON API tests: paths, Exastro-shaped settings, Authorization headers, a client."""

import base64

from tests.conftest import DEFAULT_PASSWORD

BASE = "/api/acme/platform"
SETTINGS = BASE + "/settings/mailserver"
NOTIFICATIONS = BASE + "/notifications"

# The settings of tests/conftest.py's VALID_SETTINGS, as Exastro's API names them.
EXASTRO_SETTINGS = {
    "smtp_host": "smtp.example.com",
    "smtp_port": "587",
    "send_from": "noreply@example.com",
    "send_name": "ACME notifications",
    "reply_to": "support@example.com",
    "reply_name": "ACME support",
    "envelope_from": "bounces@example.com",
    "ssl_enable": False,
    "start_tls_enable": True,
    "authentication_enable": True,
    "authentication_user": "mailer",
    "authentication_password": "s3cret-SMTP-pass",
}


def basic(username: str, password: str = DEFAULT_PASSWORD) -> dict:
    """An Authorization header for HTTP Basic."""
    pair = f"{username}:{password}".encode()
    return {"Authorization": "Basic " + base64.b64encode(pair).decode()}


def bearer(secret: str) -> dict:
    """An Authorization header for an API token."""
    return {"Authorization": f"Bearer {secret}"}


class ApiClient:
    """A test client that sends one Authorization header with every call."""

    def __init__(self, client, headers: dict):
        self.client = client
        self.headers = headers

    def _headers(self, extra):
        return {**self.headers, **(extra or {})}

    def get(self, path, headers=None):
        return self.client.get(path, headers=self._headers(headers))

    def post(self, path, json=None, headers=None, **kwargs):
        return self.client.post(path, json=json, headers=self._headers(headers), **kwargs)

    def delete(self, path, headers=None):
        return self.client.delete(path, headers=self._headers(headers))
