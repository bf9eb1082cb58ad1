"""Fixtures starting the OAuth peers of tests/oauth_servers.py; they use smtp_ca from tests/smtp_servers.py.

Load with pytest_plugins = ["tests.oauth_fixtures"]. Fixtures: service_account_rsa_key, token_endpoint,
graph_server, xoauth2_smtp_server_factory, https_client.
"""

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from exastro_mail.oauth import HttpsClient, trust_context
from tests.oauth_servers import (
    SERVICE_ACCOUNT_EMAIL,
    SERVICE_ACCOUNT_KEY_ID,
    GraphServer,
    TokenEndpoint,
    XOAuth2SmtpServer,
)


@pytest.fixture(scope="session")
def service_account_rsa_key() -> rsa.RSAPrivateKey:
    """An RSA key as Google makes for a service account (made once: 2048-bit keys take a moment)."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def token_endpoint(smtp_ca, service_account_rsa_key):
    """A token endpoint that knows the app CLIENT_ID/CLIENT_SECRET in TENANT and the service account
    SERVICE_ACCOUNT_EMAIL (the session's RSA key), delegated for https://mail.google.com/."""
    endpoint = TokenEndpoint(smtp_ca.certificates["good"])
    endpoint.register_app()
    endpoint.register_service_account(
        SERVICE_ACCOUNT_EMAIL, service_account_rsa_key.public_key(), SERVICE_ACCOUNT_KEY_ID
    )
    endpoint.start()
    yield endpoint
    endpoint.stop()


@pytest.fixture
def graph_server(smtp_ca, token_endpoint):
    server = GraphServer(smtp_ca.certificates["good"], token_endpoint).start()
    yield server
    server.stop()


@pytest.fixture
def xoauth2_smtp_server_factory(smtp_ca, token_endpoint):
    """Start XOAuth2SmtpServer peers (options: refusal, refuse_all, scopes); stopped at teardown."""
    servers = []

    def start(**options) -> XOAuth2SmtpServer:
        server = XOAuth2SmtpServer(smtp_ca.certificates["good"], token_endpoint, **options)
        servers.append(server)
        return server.start()

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def https_client(smtp_ca) -> HttpsClient:
    """An HttpsClient that trusts the system store and the test CA, with a short timeout."""
    return HttpsClient(trust_context(ca_file=smtp_ca.ca_file), timeout=3.0)
