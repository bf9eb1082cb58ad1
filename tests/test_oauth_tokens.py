"""Getting OAuth 2.0 tokens from a real HTTPS token endpoint: both grants, the cache, failures, trust."""

import logging
import socket
import threading
import time

import jwt
import pytest

from exastro_mail.oauth import (
    ClientCredentials,
    HttpsClient,
    ServiceAccount,
    TokenCache,
    TokenError,
    TokenRefused,
    fetch_token,
    parse_service_account_key,
    trust_context,
    with_token,
)
from exastro_mail.smtp.hosts import HostPolicy
from tests.import_helpers import modules_pulled_in
from tests.oauth_servers import (
    CLIENT_ID,
    CLIENT_SECRET,
    GOOGLE_SCOPE,
    GRAPH_SCOPE,
    MAILBOX,
    SERVICE_ACCOUNT_EMAIL,
    SERVICE_ACCOUNT_KEY_ID,
    SMTP_SCOPE,
    TENANT,
    TokenEndpoint,
    service_account_key_json,
)


def client_credentials(endpoint, **overrides) -> ClientCredentials:
    settings = {
        "token_url": endpoint.entra_url(),
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "scope": SMTP_SCOPE,
    }
    settings.update(overrides)
    return ClientCredentials(**settings)


def service_account(endpoint, rsa_key, mailbox=MAILBOX, **key_overrides) -> ServiceAccount:
    key = parse_service_account_key(service_account_key_json(rsa_key, endpoint.google_url, **key_overrides))
    return ServiceAccount(key, mailbox)


def token_failure(source, client) -> TokenError:
    with pytest.raises(TokenError) as caught:
        fetch_token(source, client)
    return caught.value


def test_client_credentials_are_posted_in_the_form_body_and_give_a_token(token_endpoint, https_client):
    token = fetch_token(client_credentials(token_endpoint), https_client)

    [form] = token_endpoint.requests
    assert form == {
        "grant_type": "client_credentials",
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "scope": SMTP_SCOPE,
    }
    assert token_endpoint.content_types == ["application/x-www-form-urlencoded"]
    assert token_endpoint.accepts(token.access_token, {SMTP_SCOPE})
    assert token.expires_in == 3599
    assert token.token_url == token_endpoint.entra_url()


def test_service_account_sends_a_jwt_signed_with_its_key_and_acts_as_the_mailbox(
    token_endpoint, https_client, service_account_rsa_key
):
    token = fetch_token(service_account(token_endpoint, service_account_rsa_key), https_client)

    [form] = token_endpoint.requests
    assert form["grant_type"] == "urn:ietf:params:oauth:grant-type:jwt-bearer"
    # The endpoint verified the signature; check the claims here as well, against the public key.
    claims = jwt.decode(
        form["assertion"],
        service_account_rsa_key.public_key(),
        algorithms=["RS256"],
        audience=token_endpoint.google_url,
    )
    assert claims["iss"] == SERVICE_ACCOUNT_EMAIL
    assert claims["sub"] == MAILBOX
    assert claims["scope"] == GOOGLE_SCOPE
    assert 0 < claims["exp"] - claims["iat"] <= 3600
    assert jwt.get_unverified_header(form["assertion"])["kid"] == SERVICE_ACCOUNT_KEY_ID
    assert token_endpoint.accepts(token.access_token, {GOOGLE_SCOPE}, MAILBOX)
    assert not token_endpoint.accepts(token.access_token, {GOOGLE_SCOPE}, "someone.else@acme.example")


def test_a_jwt_signed_with_another_key_is_refused_as_invalid_grant(token_endpoint, https_client):
    from cryptography.hazmat.primitives.asymmetric import rsa

    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    failure = token_failure(service_account(token_endpoint, other_key), https_client)

    assert (failure.status, failure.error) == (400, "invalid_grant")
    assert failure.error_description == "Invalid JWT Signature."
    assert failure.permanent


def test_one_token_serves_many_uses_until_shortly_before_it_expires(token_endpoint, https_client):
    cache = TokenCache()
    source = client_credentials(token_endpoint)

    tokens = {cache.get("acme", source, https_client).access_token for _ in range(20)}

    assert len(tokens) == 1
    assert len(token_endpoint.requests) == 1


def test_a_token_is_renewed_once_it_nears_expiry(token_endpoint, https_client):
    token_endpoint.expires_in = 2
    cache = TokenCache()
    source = client_credentials(token_endpoint)
    first = cache.get("acme", source, https_client)
    assert cache.get("acme", source, https_client) == first

    time.sleep(1.1)  # past half of its two seconds: renewed before it lapses
    second = cache.get("acme", source, https_client)

    assert second.access_token != first.access_token
    assert len(token_endpoint.requests) == 2


def test_tokens_are_kept_apart_by_organization_and_by_credentials(token_endpoint, https_client):
    cache = TokenCache()
    source = client_credentials(token_endpoint)
    token_endpoint.register_app(secret="the-rotated-secret")

    acme = cache.get("acme", source, https_client)
    globex = cache.get("globex", source, https_client)
    rotated = cache.get(
        "acme", client_credentials(token_endpoint, client_secret="the-rotated-secret"), https_client
    )
    graph = cache.get("acme", client_credentials(token_endpoint, scope=GRAPH_SCOPE), https_client)

    assert len({acme.access_token, globex.access_token, rotated.access_token, graph.access_token}) == 4
    assert len(token_endpoint.requests) == 4
    assert cache.get("acme", source, https_client) == acme
    assert len(token_endpoint.requests) == 4


def test_threads_asking_at_once_share_one_token_request(token_endpoint, https_client):
    cache = TokenCache()
    source = client_credentials(token_endpoint)
    tokens, start = [], threading.Barrier(8)

    def ask():
        start.wait()
        tokens.append(cache.get("acme", source, https_client).access_token)

    threads = [threading.Thread(target=ask) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)

    assert len(tokens) == 8 and len(set(tokens)) == 1
    assert len(token_endpoint.requests) == 1


def test_a_refused_token_is_dropped_and_a_new_one_fetched_once(token_endpoint, https_client):
    cache = TokenCache()
    source = client_credentials(token_endpoint)
    cache.get("acme", source, https_client)
    token_endpoint.revoke_all()
    used = []

    def send(token):
        used.append(token.access_token)
        if not token_endpoint.accepts(token.access_token, {SMTP_SCOPE}):
            raise TokenRefused("535 5.7.3 Authentication unsuccessful", kind="token_refused", permanent=True)
        return "sent"

    assert with_token(cache, "acme", source, https_client, send) == "sent"
    assert len(used) == 2 and used[0] != used[1]
    assert len(token_endpoint.requests) == 2
    assert cache.get("acme", source, https_client).access_token == used[1]


def test_a_token_refused_again_after_renewal_is_the_failure(token_endpoint, https_client):
    cache = TokenCache()
    source = client_credentials(token_endpoint)
    attempts = []

    def send(token):
        attempts.append(token)
        raise TokenRefused("535 5.7.3 Authentication unsuccessful", kind="token_refused", permanent=True)

    with pytest.raises(TokenRefused):
        with_token(cache, "acme", source, https_client, send)
    assert len(attempts) == 2
    assert len(token_endpoint.requests) == 2


@pytest.mark.parametrize(
    ("change", "status", "error", "aadsts"),
    [
        ({"client_secret": "an-expired-secret"}, 401, "invalid_client", "AADSTS7000215"),
        ({"client_id": "11111111-2222-3333-4444-555555555555"}, 400, "unauthorized_client", "AADSTS700016"),
        ({"tenant": "no-such-tenant.example"}, 400, "invalid_request", "AADSTS90002"),
    ],
)
def test_entra_id_refusals_are_permanent_and_carry_the_aadsts_code(
    token_endpoint, https_client, change, status, error, aadsts
):
    tenant = change.pop("tenant", TENANT)
    source = client_credentials(token_endpoint, token_url=token_endpoint.entra_url(tenant), **change)

    failure = token_failure(source, https_client)

    assert (failure.status, failure.error, failure.aadsts) == (status, error, aadsts)
    assert failure.permanent and failure.kind == "refused" and failure.retry_after is None
    assert failure.error_description.startswith(f"{aadsts}: ")
    assert "\r" not in failure.error_description and "\n" not in failure.error_description
    assert f"answered {status} {error}: {aadsts}" in str(failure)


def test_google_without_domain_wide_delegation_is_unauthorized_client(
    token_endpoint, https_client, service_account_rsa_key
):
    token_endpoint.delegated[SERVICE_ACCOUNT_EMAIL] = set()

    failure = token_failure(service_account(token_endpoint, service_account_rsa_key), https_client)

    assert (failure.status, failure.error, failure.aadsts) == (401, "unauthorized_client", None)
    assert "not authorized for any of the scopes requested" in failure.error_description
    assert failure.permanent


@pytest.mark.parametrize(
    ("status", "retry_after", "expected_retry_after"),
    [(500, None, None), (503, "30", 30), (429, "120", 120), (502, None, None)],
)
def test_server_errors_and_throttling_are_temporary_and_say_when_to_retry(
    token_endpoint, https_client, status, retry_after, expected_retry_after
):
    token_endpoint.fail_next(status, retry_after=retry_after)

    failure = token_failure(client_credentials(token_endpoint), https_client)

    assert failure.status == status
    assert not failure.permanent
    assert failure.retry_after == expected_retry_after


def test_retry_after_given_as_a_date_is_turned_into_seconds(token_endpoint, https_client):
    when = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(time.time() + 90))
    token_endpoint.fail_next(429, retry_after=when)

    failure = token_failure(client_credentials(token_endpoint), https_client)

    assert not failure.permanent
    assert 85 <= failure.retry_after <= 91


def test_other_client_errors_are_permanent(token_endpoint, https_client):
    token_endpoint.fail_next(400, body={"error": "invalid_scope", "error_description": "AADSTS70011: bad"})

    failure = token_failure(client_credentials(token_endpoint), https_client)

    assert failure.permanent and failure.error == "invalid_scope" and failure.aadsts == "AADSTS70011"


def test_a_stalled_token_endpoint_is_a_temporary_time_out(token_endpoint, smtp_ca):
    token_endpoint.stall = True
    client = HttpsClient(trust_context(ca_file=smtp_ca.ca_file), timeout=0.5)
    started = time.monotonic()

    failure = token_failure(client_credentials(token_endpoint), client)

    assert time.monotonic() - started < 2
    assert failure.kind == "timeout" and not failure.permanent
    assert "did not answer within 0.5 s" in str(failure)


def test_nothing_listening_is_a_temporary_connection_failure(https_client, closed_port):
    source = ClientCredentials(
        f"https://127.0.0.1:{closed_port}/t/oauth2/v2.0/token", CLIENT_ID, CLIENT_SECRET, SMTP_SCOPE
    )

    failure = token_failure(source, https_client)

    assert failure.kind == "connection" and not failure.permanent


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/contoso/oauth2/v2.0/token",
        "ftp://127.0.0.1/token",
        "https:///token",
        "https://user:pass@127.0.0.1/token",
        "https://127.0.0.1/token#fragment",
        "//127.0.0.1/token",
    ],
)
def test_only_https_token_urls_are_asked(url, https_client):
    failure = token_failure(ClientCredentials(url, CLIENT_ID, CLIENT_SECRET, SMTP_SCOPE), https_client)

    assert failure.kind == "not_https" and failure.permanent


def test_a_plain_http_server_is_never_sent_the_secret(token_endpoint, https_client):
    url = token_endpoint.entra_url().replace("https://", "http://")

    failure = token_failure(client_credentials(token_endpoint, token_url=url), https_client)

    assert failure.kind == "not_https"
    assert token_endpoint.connections == 0 and token_endpoint.requests == []


def test_the_host_policy_refuses_a_loopback_token_endpoint_before_connecting(token_endpoint, smtp_ca):
    client = HttpsClient(trust_context(ca_file=smtp_ca.ca_file), timeout=3, host_policy=HostPolicy())

    failure = token_failure(client_credentials(token_endpoint), client)

    assert failure.kind == "forbidden_host" and failure.permanent
    assert "127.0.0.1 is a loopback address (127.0.0.0/8)" in str(failure)
    assert token_endpoint.connections == 0


def test_a_token_endpoint_the_operator_allowed_is_reached(token_endpoint, smtp_ca):
    allowing = HostPolicy.allowing(["127.0.0.1/32"])
    client = HttpsClient(trust_context(ca_file=smtp_ca.ca_file), timeout=3, host_policy=allowing)

    token = fetch_token(client_credentials(token_endpoint), client)

    assert token_endpoint.accepts(token.access_token, {SMTP_SCOPE})
    failure = token_failure(client_credentials(token_endpoint), HttpsClient(client.context, 3, HostPolicy()))
    assert "EXASTRO_MAIL_SMTP_ALLOWED_HOSTS" in str(failure)


def test_the_host_policy_sees_the_resolved_addresses_and_those_are_what_is_reached(token_endpoint, smtp_ca):
    asked = []

    class Asking(HostPolicy):
        def refusal(self, host, address):
            asked.append(address)
            return None

    client = HttpsClient(trust_context(ca_file=smtp_ca.ca_file), timeout=3, host_policy=Asking())
    url = token_endpoint.entra_url().replace("127.0.0.1", "localhost")

    token = fetch_token(client_credentials(token_endpoint, token_url=url), client)

    assert "127.0.0.1" in asked and "localhost" not in asked
    assert token_endpoint.accepts(token.access_token, {SMTP_SCOPE})


def test_a_certificate_from_an_unknown_ca_is_a_permanent_failure(token_endpoint):
    client = HttpsClient(trust_context(), timeout=3)  # the system store alone does not know the test CA

    failure = token_failure(client_credentials(token_endpoint), client)

    assert failure.kind == "certificate" and failure.permanent
    assert token_endpoint.requests == []


def test_the_organization_ca_pasted_as_pem_is_trusted(token_endpoint, smtp_ca):
    client = HttpsClient(trust_context(ca_pem=smtp_ca.ca_pem), timeout=3)

    token = fetch_token(client_credentials(token_endpoint), client)

    assert token_endpoint.accepts(token.access_token, {SMTP_SCOPE})


def test_a_certificate_for_another_host_name_is_refused(smtp_ca, https_client):
    endpoint = TokenEndpoint(smtp_ca.certificates["wrong_host"])
    endpoint.register_app()
    endpoint.start()
    try:
        failure = token_failure(client_credentials(endpoint), https_client)
    finally:
        endpoint.stop()

    assert failure.kind == "certificate" and failure.permanent
    assert endpoint.requests == []


def test_the_trust_context_verifies_and_needs_tls_1_2(smtp_ca):
    import ssl

    context = trust_context(ca_file=smtp_ca.ca_file, ca_pem=smtp_ca.ca_pem)

    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    assert context.minimum_version == ssl.TLSVersion.TLSv1_2
    with pytest.raises(ssl.SSLError):
        trust_context(ca_pem="-----BEGIN CERTIFICATE-----\nnot a certificate\n-----END CERTIFICATE-----\n")


@pytest.mark.parametrize(
    "answer",
    [
        {"token_type": "Bearer", "expires_in": 3599},
        {"access_token": "abc\r\nX-Injected: 1", "expires_in": 3599},
        {"access_token": "abc", "token_type": "mac", "expires_in": 3599},
        {"access_token": "abc", "expires_in": -5},
    ],
)
def test_an_answer_that_is_not_a_bearer_token_is_refused(token_endpoint, https_client, answer):
    token_endpoint.fail_next(200, body=answer)

    failure = token_failure(client_credentials(token_endpoint), https_client)

    assert failure.kind == "bad_answer" and failure.permanent
    assert "X-Injected" not in str(failure)


def test_secrets_never_reach_errors_or_logs(token_endpoint, https_client, service_account_rsa_key, caplog):
    caplog.set_level(logging.DEBUG)
    token_endpoint.echo_request_in_errors = True  # a careless endpoint repeats the request in its error
    sa = service_account(token_endpoint, service_account_rsa_key)
    token_endpoint.delegated[SERVICE_ACCOUNT_EMAIL] = set()

    failures = [
        token_failure(client_credentials(token_endpoint, client_id="unknown-app"), https_client),
        token_failure(client_credentials(token_endpoint, client_secret=CLIENT_SECRET + "-old"), https_client),
        token_failure(sa, https_client),
    ]
    token = fetch_token(client_credentials(token_endpoint), https_client)

    assertion = token_endpoint.requests[2]["assertion"]
    secrets = [
        CLIENT_SECRET,
        assertion,
        assertion.split(".")[2],
        sa.key.private_key.splitlines()[1],
        token.access_token,
    ]
    texts = [caplog.text] + [f"{failure!s} {failure!r} {failure.error_description}" for failure in failures]
    texts.append(repr(token) + repr(client_credentials(token_endpoint)) + repr(sa))
    for text in texts:
        for secret in secrets:
            assert secret not in text
    assert "[redacted]" in failures[1].error_description
    assert "unknown-app" in failures[0].error_description  # the client id is no secret, and helps
    assert "token request to 127.0.0.1 refused" in caplog.text


def test_the_oauth_package_needs_no_flask():
    # smtp/ is Flask-free too (tests/test_smtp_is_flask_free.py): oauth shares its host policy and watchdog.
    # metrics_registry (core) counts token failures and imports nothing of ours.
    allowed = ("exastro_mail.oauth", "exastro_mail.smtp", "exastro_mail.metrics_registry")
    assert modules_pulled_in("exastro_mail.oauth", *allowed) == []


def test_a_late_drop_of_an_old_token_leaves_its_replacement_alone(token_endpoint, https_client):
    cache, source = TokenCache(), client_credentials(token_endpoint)
    old = cache.get("acme", source, https_client)
    cache.drop("acme", source, old)
    new = cache.get("acme", source, https_client)

    cache.drop("acme", source, old)  # another thread, refused with the old token, drops it late

    assert cache.get("acme", source, https_client) == new
    assert len(token_endpoint.requests) == 2


def test_forgetting_an_organization_drops_only_its_tokens(token_endpoint, https_client):
    cache, source = TokenCache(), client_credentials(token_endpoint)
    acme, globex = cache.get("acme", source, https_client), cache.get("globex", source, https_client)

    cache.forget_organization("acme")

    assert cache.get("globex", source, https_client) == globex
    assert cache.get("acme", source, https_client) != acme
    assert len(token_endpoint.requests) == 3


def test_the_address_checked_is_the_address_connected_to(token_endpoint, smtp_ca, monkeypatch):
    """A name resolving elsewhere the second time (DNS rebinding) is still reached where it was checked."""
    real_getaddrinfo = socket.getaddrinfo
    answers = iter(["127.0.0.1", "127.0.0.2"])  # the second answer would find nothing listening
    lookups = []

    def rebinding_getaddrinfo(host, *args, **kwargs):
        if host != "localhost":
            return real_getaddrinfo(host, *args, **kwargs)
        lookups.append(host)
        return real_getaddrinfo(next(answers), *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", rebinding_getaddrinfo)
    checked = []

    class Checking(HostPolicy):
        def refusal(self, host, address):
            checked.append(address)
            return None if address == "127.0.0.1" else "not the checked address"

    client = HttpsClient(trust_context(ca_file=smtp_ca.ca_file), timeout=3, host_policy=Checking())
    url = token_endpoint.entra_url().replace("127.0.0.1", "localhost")

    token = fetch_token(client_credentials(token_endpoint, token_url=url), client)

    assert lookups == ["localhost"] and checked == ["127.0.0.1"]
    assert token_endpoint.accepts(token.access_token, {SMTP_SCOPE})
