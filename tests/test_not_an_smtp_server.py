"""An org admin who aims Send test mail (or the outbox) at a port where something else listens learns
"this is not an SMTP server", never that server's own banner: not on the page, the audit log, the API's
delivery status or the delivery log."""

import pytest

from exastro_mail.store.models import OutboxMessage
from tests.conftest import plain_test_mail_form
from tests.outbox_helpers import deliver, point_settings_at
from tests.raw_servers import SSH_BANNER
from tests.test_outbox import queue

SETTINGS_URL = "/acme/platform/settings/mailserver"
HTMX = {"HX-Request": "true", "HX-Target": "test-mail-result"}
NOT_SMTP = "this is not an SMTP server"
BANNERS = {
    "ssh": SSH_BANNER,
    "http": b"HTTP/1.1 400 Bad Request\r\nServer: nginx/1.22.1\r\nContent-Length: 0\r\n\r\n",
    "imap": b"* OK [CAPABILITY IMAP4rev1 STARTTLS] Dovecot (Debian) ready.\r\n",
    "mariadb": b"J\x00\x00\x00\n5.5.5-10.11.6-MariaDB-0+deb12u1\x00\x08\x00\x00\x00\r\n",
    "odd code": b"999 Welcome to the secret admin console v1.2\r\n",
}
# Words of each banner that must never come back.
REVEALING = (
    "OpenSSH",
    "Debian",
    "nginx",
    "Dovecot",
    "IMAP4rev1",
    "MariaDB",
    "secret admin console",
    "SSH-2.0",
)


@pytest.fixture
def admin_client(client, admin, auth):
    auth.login()
    return client


def assert_reveals_nothing(text: str):
    for word in REVEALING:
        assert word not in text


@pytest.mark.parametrize("banner", BANNERS.values(), ids=BANNERS.keys())
def test_a_test_mail_to_a_port_that_is_not_smtp_hears_only_that(admin_client, raw_server_factory, banner):
    server = raw_server_factory(banner)

    response = admin_client.post(SETTINGS_URL + "/test-mail", data=plain_test_mail_form(server), headers=HTMX)

    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert NOT_SMTP in html
    assert f"Something other than an SMTP server answers on port {server.port} of 127.0.0.1" in html
    assert_reveals_nothing(html)
    assert server.connections == 1


def test_the_audit_log_keeps_no_banner_either(admin_client, ssh_server):
    admin_client.post(SETTINGS_URL + "/test-mail", data=plain_test_mail_form(ssh_server))

    audit = admin_client.get("/acme/platform/audit-log").get_data(as_text=True)
    assert "mail_server_settings.test_mail" in audit and NOT_SMTP in audit
    assert_reveals_nothing(audit)


def test_a_japanese_admin_reads_it_in_japanese(admin_client, ssh_server):
    admin_client.set_cookie("locale", "ja")

    response = admin_client.post(
        SETTINGS_URL + "/test-mail", data=plain_test_mail_form(ssh_server), headers=HTMX
    )

    html = response.get_data(as_text=True)
    assert "SMTP サーバーではありません" in html
    assert_reveals_nothing(html)


def test_delivery_to_a_port_that_is_not_smtp_logs_no_banner(mail_app, acme, ssh_server, client):
    point_settings_at(mail_app, acme, ssh_server)
    (message,) = queue(mail_app, acme)

    deliver(mail_app)

    with mail_app.app_context():
        failed = OutboxMessage.get_by_id(message.id)
    assert failed.last_error.startswith(NOT_SMTP)
    assert_reveals_nothing(failed.last_error)
