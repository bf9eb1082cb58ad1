"""AUTH XOAUTH2 against a real aiosmtpd server behind STARTTLS that takes only tokens the endpoint issued."""

import base64
import json
import logging
import smtplib

import pytest

from exastro_mail.oauth import (
    ClientCredentials,
    ServiceAccount,
    TokenCache,
    XOAuth2Refused,
    XOAuth2Unavailable,
    authenticate_xoauth2,
    parse_service_account_key,
    trust_context,
    with_token,
    xoauth2_string,
)
from tests.oauth_servers import (
    CLIENT_ID,
    CLIENT_SECRET,
    GOOGLE_SCOPE,
    MAILBOX,
    SMTP_SCOPE,
    service_account_key_json,
)


def entra_app(endpoint) -> ClientCredentials:
    return ClientCredentials(endpoint.entra_url(), CLIENT_ID, CLIENT_SECRET, SMTP_SCOPE)


def google_account(endpoint, rsa_key) -> ServiceAccount:
    return ServiceAccount(
        parse_service_account_key(service_account_key_json(rsa_key, endpoint.google_url)), MAILBOX
    )


def connect(server, smtp_ca) -> smtplib.SMTP:
    """A connection to the peer, encrypted with STARTTLS and verified, ready for AUTH."""
    smtp = smtplib.SMTP(server.host, server.port, local_hostname="client.test", timeout=5)
    smtp.starttls(context=trust_context(ca_file=smtp_ca.ca_file))
    smtp.ehlo()
    return smtp


def send_one(smtp, subject="Your report is ready"):
    smtp.sendmail(MAILBOX, ["alice@example.com"], f"From: {MAILBOX}\r\nSubject: {subject}\r\n\r\nHello\r\n")


def test_the_initial_client_response_is_user_then_bearer_token():
    assert xoauth2_string("noreply@acme.example", "ya29.abc") == (
        "user=noreply@acme.example\x01auth=Bearer ya29.abc\x01\x01"
    )


@pytest.mark.parametrize(
    "mailbox", ["noreply@acme.example\x01auth=Bearer stolen", "no reply@acme", "", "ü@acme"]
)
def test_a_mailbox_that_could_break_the_string_is_refused(mailbox):
    with pytest.raises(ValueError, match="printable ASCII"):
        xoauth2_string(mailbox, "ya29.abc")


def test_a_client_credentials_token_lets_the_mailbox_send(
    token_endpoint, xoauth2_smtp_server_factory, https_client, smtp_ca
):
    server = xoauth2_smtp_server_factory()
    token = TokenCache().get("acme", entra_app(token_endpoint), https_client)

    with connect(server, smtp_ca) as smtp:
        code, reply = authenticate_xoauth2(smtp, MAILBOX, token)
        send_one(smtp)

    assert code == 235
    [received] = server.wait_for(1)
    assert received.authenticated_user == MAILBOX
    assert received.message["Subject"] == "Your report is ready"
    [attempt] = server.auth_attempts
    assert attempt.accepted and attempt.user == MAILBOX
    assert attempt.line_length > 512  # an Entra ID sized token, in one AUTH line as RFC 4954 allows


def test_many_mails_over_many_connections_need_one_token(
    token_endpoint, xoauth2_smtp_server_factory, https_client, smtp_ca
):
    server = xoauth2_smtp_server_factory()
    cache, source = TokenCache(), entra_app(token_endpoint)

    for number in range(5):
        with connect(server, smtp_ca) as smtp:
            authenticate_xoauth2(smtp, MAILBOX, cache.get("acme", source, https_client))
            send_one(smtp, subject=f"Notice {number}")

    assert [m.message["Subject"] for m in server.wait_for(5)] == [f"Notice {n}" for n in range(5)]
    assert len(token_endpoint.requests) == 1


def test_a_service_account_token_sends_as_the_mailbox_it_was_issued_for(
    token_endpoint, xoauth2_smtp_server_factory, https_client, smtp_ca, service_account_rsa_key
):
    server = xoauth2_smtp_server_factory(refusal="google")
    token = TokenCache().get("acme", google_account(token_endpoint, service_account_rsa_key), https_client)

    with connect(server, smtp_ca) as smtp:
        with pytest.raises(XOAuth2Refused):
            authenticate_xoauth2(smtp, "someone.else@acme.example", token)
        authenticate_xoauth2(smtp, MAILBOX, token)
        send_one(smtp)

    [received] = server.wait_for(1)
    assert received.authenticated_user == MAILBOX
    assert [attempt.accepted for attempt in server.auth_attempts] == [False, True]


def test_a_refused_token_is_replaced_once_and_the_mail_still_goes(
    token_endpoint, xoauth2_smtp_server_factory, https_client, smtp_ca
):
    server = xoauth2_smtp_server_factory()
    cache, source = TokenCache(), entra_app(token_endpoint)
    stale = cache.get("acme", source, https_client)
    token_endpoint.revoke_all()

    with connect(server, smtp_ca) as smtp:
        code, _ = with_token(
            cache, "acme", source, https_client, lambda t: authenticate_xoauth2(smtp, MAILBOX, t)
        )
        send_one(smtp)

    assert code == 235
    assert [attempt.accepted for attempt in server.auth_attempts] == [False, True]
    assert len(token_endpoint.requests) == 2
    assert cache.get("acme", source, https_client).access_token != stale.access_token
    server.wait_for(1)


def test_smtp_auth_disabled_for_the_mailbox_fails_after_one_renewal_with_535_5_7_3(
    token_endpoint, xoauth2_smtp_server_factory, https_client, smtp_ca
):
    server = xoauth2_smtp_server_factory(refuse_all=True)
    cache, source = TokenCache(), entra_app(token_endpoint)

    with connect(server, smtp_ca) as smtp, pytest.raises(XOAuth2Refused) as caught:
        with_token(cache, "acme", source, https_client, lambda t: authenticate_xoauth2(smtp, MAILBOX, t))

    refused = caught.value
    assert refused.smtp_code == 535
    assert str(refused) == "535 5.7.3 Authentication unsuccessful [SMTP.test] (AUTH XOAUTH2)"
    assert refused.kind == "token_refused" and refused.challenge is None
    assert len(server.auth_attempts) == 2 and len(token_endpoint.requests) == 2
    assert server.messages == []


def test_google_explains_a_refusal_in_a_challenge_before_535(
    token_endpoint, xoauth2_smtp_server_factory, https_client, smtp_ca, service_account_rsa_key
):
    server = xoauth2_smtp_server_factory(refusal="google", refuse_all=True)
    token = TokenCache().get("acme", google_account(token_endpoint, service_account_rsa_key), https_client)

    with connect(server, smtp_ca) as smtp, pytest.raises(XOAuth2Refused) as caught:
        authenticate_xoauth2(smtp, MAILBOX, token)

    assert caught.value.smtp_code == 535
    assert "5.7.8 Username and Password not accepted" in str(caught.value)
    assert json.loads(caught.value.challenge) == {"status": "400", "schemes": "Bearer", "scope": GOOGLE_SCOPE}


def test_xoauth2_is_not_offered_before_starttls(token_endpoint, xoauth2_smtp_server_factory, https_client):
    server = xoauth2_smtp_server_factory()
    token = TokenCache().get("acme", entra_app(token_endpoint), https_client)

    with smtplib.SMTP(server.host, server.port, timeout=5) as smtp, pytest.raises(XOAuth2Unavailable):
        authenticate_xoauth2(smtp, MAILBOX, token)

    assert server.auth_attempts == []


def test_the_token_never_reaches_smtplib_debug_output_or_logs(
    token_endpoint, xoauth2_smtp_server_factory, https_client, smtp_ca, capsys, caplog
):
    caplog.set_level(logging.DEBUG)
    server = xoauth2_smtp_server_factory()
    token = TokenCache().get("acme", entra_app(token_endpoint), https_client)
    encoded = base64.b64encode(xoauth2_string(MAILBOX, token.access_token).encode()).decode()

    with connect(server, smtp_ca) as smtp:
        smtp.set_debuglevel(2)
        authenticate_xoauth2(smtp, MAILBOX, token)
        assert smtp.debuglevel == 2
        send_one(smtp)

    printed = capsys.readouterr()
    assert "MAIL FROM" in printed.err.upper()  # the debug output was on around AUTH
    assert "token from 127.0.0.1, valid 3599 s" in caplog.text
    for text in (printed.out, printed.err, caplog.text):
        assert token.access_token not in text and encoded[:200] not in text and CLIENT_SECRET not in text
