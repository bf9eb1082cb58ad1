"""Mail goes out through OAuth 2.0 as the organization set it up: XOAUTH2 with client credentials or a
service account, or Microsoft Graph; one token for many mails, renewed, replaced when refused, and each
failure of the token endpoint or Graph classified permanent or temporary."""

import logging
import time
from datetime import timedelta

import pytest

from exastro_mail.outbox import status
from exastro_mail.store.models import OutboxMessage, utcnow
from tests.oauth_servers import (
    CLIENT_ID,
    CLIENT_SECRET,
    GOOGLE_SCOPE,
    MAILBOX,
    SERVICE_ACCOUNT_EMAIL,
    SMTP_SCOPE,
    service_account_key_json,
)
from tests.outbox_helpers import deliver, point_settings_at
from tests.test_outbox import queue, reloaded


def client_credentials(token_endpoint, server, **overrides):
    return {
        "smtp_host": getattr(server, "host", None),
        "smtp_port": getattr(server, "port", None),
        "encryption": "starttls",
        "authentication_enable": True,
        "authentication_method": "oauth2_client_credentials",
        "authentication_user": MAILBOX,
        "authentication_password": None,
        "oauth2_token_url": token_endpoint.entra_url(),
        "oauth2_client_id": CLIENT_ID,
        "oauth2_client_secret": CLIENT_SECRET,
        "oauth2_scope": SMTP_SCOPE,
        "send_from": MAILBOX,
        **overrides,
    }


def graph(token_endpoint, graph_server, **overrides):
    return client_credentials(
        token_endpoint,
        graph_server,
        transport="microsoft_graph",
        smtp_host=None,
        smtp_port=None,
        encryption=None,
        graph_url=graph_server.url,
        oauth2_scope="https://graph.microsoft.com/.default",
        **overrides,
    )


def setup(app, org, values):
    point_settings_at(app, org, None, **values)


def outcome(app, message):
    with app.app_context():
        return reloaded(message)


def test_client_credentials_send_many_mails_over_xoauth2_with_one_token(
    mail_app, acme, token_endpoint, xoauth2_smtp_server_factory
):
    server = xoauth2_smtp_server_factory()
    setup(mail_app, acme, client_credentials(token_endpoint, server))
    queue(mail_app, acme, 3)
    deliver(mail_app)
    queue(mail_app, acme, 2)
    deliver(mail_app)

    received = server.wait_for(5)
    assert {mail.authenticated_user for mail in received} == {MAILBOX}
    assert [form["grant_type"] for form in token_endpoint.requests] == ["client_credentials"]
    assert token_endpoint.requests[0]["scope"] == SMTP_SCOPE
    assert token_endpoint.requests[0]["client_secret"] == CLIENT_SECRET


def test_a_service_account_sends_as_the_mailbox_over_xoauth2(
    mail_app, acme, token_endpoint, xoauth2_smtp_server_factory, service_account_rsa_key
):
    server = xoauth2_smtp_server_factory(refusal="google")
    key = service_account_key_json(service_account_rsa_key, token_endpoint.google_url)
    values = client_credentials(
        token_endpoint,
        server,
        authentication_method="oauth2_service_account",
        oauth2_token_url=None,
        oauth2_client_id=None,
        oauth2_client_secret=None,
        oauth2_scope=None,
        oauth2_service_account_key=key,
    )
    setup(mail_app, acme, values)
    queue(mail_app, acme, 3)
    deliver(mail_app)

    received = server.wait_for(3)
    assert {mail.authenticated_user for mail in received} == {MAILBOX}
    assert len(token_endpoint.requests) == 1
    assert token_endpoint.requests[0]["grant_type"] == "urn:ietf:params:oauth:grant-type:jwt-bearer"
    [issued] = token_endpoint.issued.values()
    assert (issued.client, issued.subject, issued.scope) == (SERVICE_ACCOUNT_EMAIL, MAILBOX, GOOGLE_SCOPE)


def test_graph_sends_many_mails_as_mime_with_one_token_bcc_included(
    mail_app, acme, token_endpoint, graph_server
):
    setup(mail_app, acme, graph(token_endpoint, graph_server))
    queue(mail_app, acme, 2)
    [with_bcc] = queue(mail_app, acme, 1, bcc=["auditor@example.net"], subject="Quarterly report")
    deliver(mail_app)

    assert len(graph_server.messages) == 3
    assert len(token_endpoint.requests) == 1
    assert {received.mailbox for received in graph_server.messages} == {MAILBOX}
    report = next(r for r in graph_server.messages if r.message["Subject"] == "Quarterly report")
    assert report.message["To"] == "carol@example.net"
    assert report.message["Bcc"] == "auditor@example.net"
    assert outcome(mail_app, with_bcc).status == status.SENT


def test_a_token_is_renewed_once_it_is_about_to_expire(
    mail_app, acme, token_endpoint, xoauth2_smtp_server_factory
):
    server = xoauth2_smtp_server_factory()
    token_endpoint.expires_in = 2  # renewed at half its life
    setup(mail_app, acme, client_credentials(token_endpoint, server))
    queue(mail_app, acme)
    deliver(mail_app)
    time.sleep(1.2)
    queue(mail_app, acme)
    deliver(mail_app)

    server.wait_for(2)
    assert len(token_endpoint.requests) == 2


@pytest.mark.parametrize("transport", ["smtp", "graph"])
def test_a_refused_token_is_replaced_once_and_the_mail_goes_out(
    mail_app, acme, token_endpoint, xoauth2_smtp_server_factory, graph_server, transport
):
    server = xoauth2_smtp_server_factory()
    values = (
        client_credentials(token_endpoint, server)
        if transport == "smtp"
        else graph(token_endpoint, graph_server)
    )
    setup(mail_app, acme, values)
    queue(mail_app, acme)
    deliver(mail_app)
    token_endpoint.revoke_all()  # the kept token no longer works, as after consent was withdrawn
    [message] = queue(mail_app, acme)
    deliver(mail_app)

    assert outcome(mail_app, message).status == status.SENT
    assert len(token_endpoint.requests) == 2
    if transport == "smtp":
        assert [attempt.accepted for attempt in server.auth_attempts] == [True, False, True]
    else:
        assert len(graph_server.messages) == 2


def test_a_mailbox_without_smtp_auth_fails_for_good_after_one_new_token(
    mail_app, acme, token_endpoint, xoauth2_smtp_server_factory
):
    server = xoauth2_smtp_server_factory(refuse_all=True)
    setup(mail_app, acme, client_credentials(token_endpoint, server))
    [message] = queue(mail_app, acme)
    deliver(mail_app)

    failed = outcome(mail_app, message)
    assert failed.status == status.FAILED
    assert "535 5.7.3" in failed.last_error
    assert len(token_endpoint.requests) == 2
    assert len(server.auth_attempts) == 2


@pytest.mark.parametrize(
    "change, code",
    [
        ({"oauth2_client_secret": "an-expired-secret"}, "AADSTS7000215"),
        ({"oauth2_client_id": "11111111-2222-3333-4444-555555555555"}, "AADSTS700016"),
    ],
)
def test_a_token_endpoint_that_refuses_the_credentials_fails_the_mail_for_good(
    mail_app, acme, token_endpoint, xoauth2_smtp_server_factory, change, code
):
    server = xoauth2_smtp_server_factory()
    setup(mail_app, acme, client_credentials(token_endpoint, server, **change))
    [message] = queue(mail_app, acme)
    deliver(mail_app)

    failed = outcome(mail_app, message)
    assert failed.status == status.FAILED
    assert code in failed.last_error
    assert "an-expired-secret" not in failed.last_error
    assert server.auth_attempts == []


def test_a_service_account_without_delegation_fails_for_good_with_unauthorized_client(
    mail_app, acme, token_endpoint, xoauth2_smtp_server_factory, service_account_rsa_key
):
    server = xoauth2_smtp_server_factory(refusal="google")
    token_endpoint.delegated[SERVICE_ACCOUNT_EMAIL] = set()
    key = service_account_key_json(service_account_rsa_key, token_endpoint.google_url)
    values = client_credentials(
        token_endpoint, server, authentication_method="oauth2_service_account", oauth2_service_account_key=key
    )
    setup(mail_app, acme, values)
    [message] = queue(mail_app, acme)
    deliver(mail_app)

    failed = outcome(mail_app, message)
    assert failed.status == status.FAILED
    assert "unauthorized_client" in failed.last_error


@pytest.mark.parametrize("answer", [503, 429])
def test_a_busy_token_endpoint_keeps_the_mail_queued_honouring_retry_after(
    mail_app, acme, token_endpoint, xoauth2_smtp_server_factory, answer
):
    server = xoauth2_smtp_server_factory()
    token_endpoint.fail_next(answer, retry_after="600" if answer == 429 else None)
    setup(mail_app, acme, client_credentials(token_endpoint, server))
    [message] = queue(mail_app, acme)
    deliver(mail_app)

    queued = outcome(mail_app, message)
    assert queued.status == status.QUEUED
    assert f"answered {answer}" in queued.last_error
    if answer == 429:
        assert queued.next_attempt_at >= utcnow() + timedelta(seconds=590)


@pytest.mark.parametrize(
    "answer, code, final",
    [
        (429, "ApplicationThrottled", status.QUEUED),
        (503, "ServiceUnavailable", status.QUEUED),
        (400, "ErrorInvalidRecipients", status.FAILED),
    ],
)
def test_graph_failures_are_temporary_or_permanent_as_graph_means_them(
    mail_app, acme, token_endpoint, graph_server, answer, code, final
):
    graph_server.fail_next(answer, code=code, message="as Graph says it")
    setup(mail_app, acme, graph(token_endpoint, graph_server))
    [message] = queue(mail_app, acme)
    deliver(mail_app)

    result = outcome(mail_app, message)
    assert result.status == final
    assert code in result.last_error


def test_graph_without_mail_send_fails_for_good(mail_app, acme, token_endpoint, graph_server):
    graph_server.granted_mailboxes = {"someone-else@acme.example"}
    setup(mail_app, acme, graph(token_endpoint, graph_server))
    [message] = queue(mail_app, acme)
    deliver(mail_app)

    failed = outcome(mail_app, message)
    assert failed.status == status.FAILED
    assert "403 ErrorAccessDenied" in failed.last_error


def test_no_secret_or_token_reaches_the_log_or_the_delivery_record(
    mail_app, acme, token_endpoint, xoauth2_smtp_server_factory, caplog
):
    server = xoauth2_smtp_server_factory()
    token_endpoint.echo_request_in_errors = True
    setup(mail_app, acme, client_credentials(token_endpoint, server))
    queue(mail_app, acme)
    with caplog.at_level(logging.DEBUG):
        deliver(mail_app)
        token_endpoint.revoke_all()
        setup(
            mail_app,
            acme,
            client_credentials(token_endpoint, server, oauth2_client_secret="wrong-" + CLIENT_SECRET),
        )
        queue(mail_app, acme)
        deliver(mail_app)

    tokens = list(token_endpoint.issued)
    assert tokens
    with mail_app.app_context():
        recorded = " ".join(str(row.last_error) for row in OutboxMessage.select())
    for secret in [CLIENT_SECRET, *tokens]:
        assert secret not in caplog.text
        assert secret not in recorded
