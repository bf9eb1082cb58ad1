"""Fixtures for the JSON API tests: an admin's API token and a client that sends it.

Registered by tests/conftest.py.
"""

import pytest

from exastro_mail.api_tokens.tokens import issue_token
from tests.api_helpers import ApiClient, bearer


@pytest.fixture
def admin_token(admin) -> str:
    """The secret of an API token of the admin of acme."""
    _token, secret = issue_token(admin.organization, admin, "tests")
    return secret


@pytest.fixture
def api(client, admin_token) -> ApiClient:
    """A client calling the API as acme's admin, with an API token."""
    return ApiClient(client, bearer(admin_token))
