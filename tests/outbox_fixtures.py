"""Fixtures for the reset and outbox tests: an app that trusts the test CA and times out fast, org acme
and its user alice. Registered by tests/conftest.py."""

import pytest

from tests.conftest import build_app, make_org, make_user


@pytest.fixture
def mail_app(tmp_path, smtp_ca):
    """An app whose SMTP connections trust the test CA and time out fast."""
    return build_app(tmp_path, SMTP_CA_FILE=smtp_ca.ca_file, SMTP_TIMEOUT=1.5)


@pytest.fixture
def acme(mail_app):
    return make_org()


@pytest.fixture
def alice(acme):
    return make_user(acme, "alice", email="alice@example.com")
