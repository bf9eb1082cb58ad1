"""Behind a reverse proxy: with EXASTRO_MAIL_PROXY_FIX_X_FOR the client's address comes from the header
the proxy set (rate limits and the audit log see the real client); without it the header is ignored."""

import pytest

from exastro_mail.config import ConfigError
from exastro_mail.store.models import AuditEvent
from tests.conftest import build_app, make_org
from tests.outbox_helpers import point_settings_at


def requested_from() -> set[str]:
    """The client addresses the audit log recorded for forgot-password requests."""
    requests = AuditEvent.select().where(AuditEvent.action == "password_reset.requested")
    return {event.remote_addr for event in requests}


def forgot_from(client, address: str) -> int:
    headers = {"X-Forwarded-For": address}
    return client.post("/acme/forgot-password", data={"identifier": "nobody"}, headers=headers).status_code


def app_with_one_reset_per_client(tmp_path, **config):
    app = build_app(tmp_path, RESET_LIMIT_PER_CLIENT="1 per minute", **config)
    with app.app_context():
        point_settings_at(app, make_org(), None, smtp_host="smtp.example.com", smtp_port=25)
    return app


def test_behind_one_proxy_each_client_has_its_own_limit_and_address(tmp_path):
    app = app_with_one_reset_per_client(tmp_path, PROXY_FIX_X_FOR=1)
    client = app.test_client()
    assert forgot_from(client, "203.0.113.7") == 200
    assert forgot_from(client, "203.0.113.7") == 429
    assert forgot_from(client, "198.51.100.4, 203.0.113.8") == 200  # only the entry our proxy added counts
    with app.app_context():
        assert requested_from() == {"203.0.113.7", "203.0.113.8"}


def test_without_the_setting_a_forwarded_address_is_not_believed(tmp_path):
    app = app_with_one_reset_per_client(tmp_path)
    client = app.test_client()
    assert forgot_from(client, "203.0.113.7") == 200
    assert forgot_from(client, "203.0.113.8") == 429  # the same client, whatever it claims
    with app.app_context():
        assert requested_from() == {"127.0.0.1"}


def test_a_proxy_count_that_is_not_a_small_number_stops_start_up(tmp_path):
    with pytest.raises(ConfigError, match="EXASTRO_MAIL_PROXY_FIX_X_FOR"):
        build_app(tmp_path, PROXY_FIX_X_FOR="yes")
