"""Sending through a real HTTPS Microsoft Graph peer: sendMail with the base64 MIME, its answers, tokens."""

import base64
import logging
import time
from email.message import EmailMessage

import pytest

from exastro_mail.oauth import (
    ClientCredentials,
    GraphError,
    GraphTokenRefused,
    HttpsClient,
    TokenCache,
    graph_base_url,
    send_mail,
    send_mail_url,
    trust_context,
    with_token,
)
from exastro_mail.smtp.hosts import HostPolicy
from tests.oauth_servers import CLIENT_ID, CLIENT_SECRET, GRAPH_SCOPE, MAILBOX, SMTP_SCOPE


def graph_app(endpoint, scope=GRAPH_SCOPE) -> ClientCredentials:
    return ClientCredentials(endpoint.entra_url(), CLIENT_ID, CLIENT_SECRET, scope)


def mime(subject="Your report is ready", body="Hello,\nthe report is ready.\n") -> bytes:
    message = EmailMessage()
    message["From"] = f"ACME <{MAILBOX}>"
    message["To"] = "alice@example.com"
    message["Subject"] = subject
    message.set_content(body)
    return bytes(message)


def graph_failure(client, graph, token, mailbox=MAILBOX) -> GraphError:
    with pytest.raises(GraphError) as caught:
        send_mail(client, graph.url, mailbox, mime(), token)
    return caught.value


@pytest.fixture
def graph_token(token_endpoint, https_client):
    return TokenCache().get("acme", graph_app(token_endpoint), https_client)


def test_a_message_sent_through_graph_arrives_decoded_with_the_right_headers(
    graph_server, graph_token, https_client
):
    request_id = send_mail(https_client, graph_server.url, MAILBOX, mime("Grüße: réunion"), graph_token)

    [received] = graph_server.messages
    assert received.mailbox == MAILBOX
    assert received.content_type == "text/plain"
    assert received.authorization == f"Bearer {graph_token.access_token}"
    assert received.message["Subject"] == "Grüße: réunion"
    assert received.message["To"] == "alice@example.com"
    assert received.message.get_content() == "Hello,\nthe report is ready.\n"
    assert received.raw == mime("Grüße: réunion")
    assert request_id


def test_many_messages_through_graph_need_one_token(token_endpoint, graph_server, https_client):
    cache, source = TokenCache(), graph_app(token_endpoint)

    for number in range(4):
        send_mail(
            https_client,
            graph_server.url,
            MAILBOX,
            mime(f"Notice {number}"),
            cache.get("acme", source, https_client),
        )

    assert [r.message["Subject"] for r in graph_server.messages] == [f"Notice {n}" for n in range(4)]
    assert len(token_endpoint.requests) == 1


def test_a_token_for_smtp_is_not_a_token_for_graph(token_endpoint, graph_server, https_client):
    smtp_token = TokenCache().get("acme", graph_app(token_endpoint, scope=SMTP_SCOPE), https_client)

    failure = graph_failure(https_client, graph_server, smtp_token)

    assert isinstance(failure, GraphTokenRefused)
    assert (failure.status, failure.code) == (401, "InvalidAuthenticationToken")


def test_a_401_drops_the_token_and_the_send_is_tried_once_more(token_endpoint, graph_server, https_client):
    cache, source = TokenCache(), graph_app(token_endpoint)
    stale = cache.get("acme", source, https_client)
    token_endpoint.revoke_all()

    with_token(
        cache,
        "acme",
        source,
        https_client,
        lambda t: send_mail(https_client, graph_server.url, MAILBOX, mime(), t),
    )

    assert graph_server.requests == 2 and len(graph_server.messages) == 1
    assert graph_server.messages[0].authorization != f"Bearer {stale.access_token}"
    assert len(token_endpoint.requests) == 2


def test_mail_send_not_granted_is_a_permanent_403(graph_server, graph_token, https_client):
    graph_server.granted_mailboxes = {"someone.else@acme.example"}

    failure = graph_failure(https_client, graph_server, graph_token)

    assert (failure.status, failure.code, failure.kind) == (403, "ErrorAccessDenied", "refused")
    assert failure.message == "Access is denied. Check credentials and try again."
    assert failure.permanent and failure.request_id
    assert "Graph 127.0.0.1 answered 403 ErrorAccessDenied: Access is denied." in str(failure)


@pytest.mark.parametrize(
    ("status", "retry_after", "permanent", "expected_retry_after"),
    [(429, "17", False, 17), (503, "5", False, 5), (503, None, False, None), (400, "5", True, None)],
)
def test_graph_answers_decide_whether_to_retry(
    graph_server, graph_token, https_client, status, retry_after, permanent, expected_retry_after
):
    graph_server.fail_next(status, retry_after=retry_after, code="ErrorInjected", message="the peer says so")

    failure = graph_failure(https_client, graph_server, graph_token)

    assert failure.status == status and failure.permanent is permanent
    assert failure.retry_after == expected_retry_after
    assert (failure.code, failure.message) == ("ErrorInjected", "the peer says so")
    assert graph_server.messages == []


def test_a_graph_url_of_a_national_cloud_with_a_trailing_slash_is_used_as_given(
    graph_server, graph_token, https_client
):
    send_mail(https_client, graph_server.url + "/", MAILBOX, mime(), graph_token)

    assert len(graph_server.messages) == 1
    assert graph_base_url("https://graph.microsoft.us/") == "https://graph.microsoft.us"


@pytest.mark.parametrize(
    "mailbox",
    [
        "../../me",
        "noreply@acme.example/../x",
        "a?b@acme",
        "a#b@acme",
        "a%2Fb@acme",
        "a b@acme",
        "",
        "ü@acme",
        "..",
        "a\\b@acme",
        "a\r\nb@acme",
    ],
)
def test_a_mailbox_that_could_change_the_path_is_refused_before_sending(
    graph_server, graph_token, https_client, mailbox
):
    with pytest.raises(ValueError, match="user principal name"):
        send_mail(https_client, graph_server.url, mailbox, mime(), graph_token)

    assert graph_server.connections == 0


def test_the_mailbox_is_quoted_into_the_path(graph_server, graph_token, https_client):
    assert send_mail_url("https://graph.microsoft.com", "o'brien+news@acme.example") == (
        "https://graph.microsoft.com/v1.0/users/o%27brien%2Bnews@acme.example/sendMail"
    )

    send_mail(https_client, graph_server.url, "o'brien+news@acme.example", mime(), graph_token)

    assert graph_server.messages[0].mailbox == "o'brien+news@acme.example"


@pytest.mark.parametrize(
    "url",
    ["http://graph.microsoft.com", "https://graph.microsoft.com?x=1", "https://user@graph.microsoft.com"],
)
def test_only_plain_https_graph_urls_are_taken(url):
    with pytest.raises(ValueError, match="Graph URL"):
        graph_base_url(url)


def test_the_host_policy_and_the_trust_apply_to_graph_too(graph_server, graph_token, smtp_ca):
    guarded = HttpsClient(trust_context(ca_file=smtp_ca.ca_file), timeout=3, host_policy=HostPolicy())
    untrusting = HttpsClient(trust_context(), timeout=3)

    refused = graph_failure(guarded, graph_server, graph_token)
    unverified = graph_failure(untrusting, graph_server, graph_token)

    assert (refused.kind, refused.permanent) == ("forbidden_host", True)
    assert (unverified.kind, unverified.permanent) == ("certificate", True)
    assert graph_server.requests == 0


def test_a_stalled_graph_is_a_temporary_time_out(graph_server, graph_token, smtp_ca):
    graph_server.stall = True
    client = HttpsClient(trust_context(ca_file=smtp_ca.ca_file), timeout=0.5)
    started = time.monotonic()

    failure = graph_failure(client, graph_server, graph_token)

    assert failure.kind == "timeout" and not failure.permanent
    assert time.monotonic() - started < 2


def test_the_token_and_message_never_reach_graph_errors_or_logs(
    graph_server, graph_token, https_client, caplog
):
    caplog.set_level(logging.DEBUG)
    echoed = f"Bearer {graph_token.access_token} was not accepted"
    graph_server.fail_next(401, code="InvalidAuthenticationToken", message=echoed)

    failure = graph_failure(https_client, graph_server, graph_token)
    send_mail(https_client, graph_server.url, MAILBOX, mime(), graph_token)

    encoded_body = base64.b64encode(mime()).decode()
    for text in (str(failure), repr(failure), failure.message, caplog.text):
        assert graph_token.access_token not in text and encoded_body not in text
    assert "[redacted]" in failure.message
    assert "Graph sendMail for noreply@acme.example refused: Graph 127.0.0.1 answered 401" in caplog.text
