"""Reset tokens and account matching, checked without a request: expiry by passing `now`."""

from datetime import datetime, timedelta

import pytest

from exastro_mail.password_reset import available, tokens
from exastro_mail.password_reset.mails import accounts_matching, duration_words
from exastro_mail.store.models import ResetToken, User
from tests.conftest import make_org, make_user

NOW = datetime(2025, 1, 1, 12, 0, 0)
TTL = 1800


def stored(row=None, user=None) -> tuple[ResetToken, User]:
    """A token row and its user as they come from the database, without a database."""
    row_fields = {"email": "alice@example.com", "created_at": NOW, "expires_at": NOW + timedelta(seconds=TTL)}
    user_fields = {
        "email": "alice@example.com",
        "password_changed_at": NOW - timedelta(days=1),
        "is_enabled": True,
    }
    return ResetToken(**{**row_fields, **(row or {})}), User(**{**user_fields, **(user or {})})


def test_a_token_is_valid_at_exactly_its_lifetime_and_not_a_second_later():
    row, user = stored()
    assert tokens.token_problem(row, user, NOW) is None
    assert tokens.token_problem(row, user, NOW + timedelta(seconds=TTL)) is None
    assert tokens.token_problem(row, user, NOW + timedelta(seconds=TTL + 1)) == "the link expired"


@pytest.mark.parametrize(
    ("overrides", "problem"),
    [
        ({"row": {"used_at": NOW}}, "the link was already used"),
        (
            {"user": {"password_changed_at": NOW + timedelta(seconds=1)}},
            "the password was changed after the link was sent",
        ),
        (
            {"user": {"email": "alice@new.example.com"}},
            "the account's email address changed after the link was sent",
        ),
        ({"user": {"is_enabled": False}}, "the account is disabled"),
    ],
)
def test_a_token_dies_with_use_password_change_email_change_or_a_disabled_account(overrides, problem):
    row, user = stored(**overrides)
    assert tokens.token_problem(row, user, NOW + timedelta(seconds=1)) == problem


def test_tokens_are_256_random_bits_kept_only_as_a_hash():
    made = {tokens.new_token() for _ in range(1000)}
    assert len(made) == 1000
    token = made.pop()
    assert len(token) == 43  # 32 bytes, URL-safe base64
    assert tokens.token_hash(token) != token and len(tokens.token_hash(token)) == 64


@pytest.mark.parametrize("text", ["", "short", "a" * 44, "a" * 42 + "!", None, "é" * 43])
def test_a_malformed_token_is_refused_without_a_lookup(app, text):
    assert tokens.find(make_org(), text) is None


def test_accounts_match_by_exact_username_or_ascii_case_of_the_stored_address(app):
    acme = make_org()
    mike = make_user(acme, "mike", email="Mike@Example.com")
    other = make_org("globex")
    make_user(other, "mike", email="mike@example.com")
    assert accounts_matching(acme, "  mike ") == [mike]
    assert accounts_matching(acme, "MIKE@example.COM") == [mike]
    assert accounts_matching(acme, "Mike") == []  # usernames are exact
    for look_alike in (
        "mıke@example.com",
        "MİKE@example.com",
        "ｍｉｋｅ@example.com",
        "mike@example.com.",
        "mike",
    ):
        assert accounts_matching(acme, look_alike) in ([], [mike] if look_alike == "mike" else [])


def test_disabled_accounts_match_nothing(app):
    acme = make_org()
    dora = make_user(acme, "dora", email="dora@example.com")
    User.update(is_enabled=False).where(User.id == dora.id).execute()
    assert accounts_matching(acme, "dora") == []
    assert accounts_matching(acme, "dora@example.com") == []


def test_reset_is_available_only_with_a_base_url(app):
    assert available(app)
    app.config["BASE_URL"] = None
    assert not available(app)


@pytest.mark.parametrize(
    ("seconds", "words"), [(1800, "30 minutes"), (3600, "1 hour"), (60, "1 minute"), (90, "90 seconds")]
)
def test_the_mail_says_how_long_the_link_works(seconds, words):
    assert duration_words(seconds) == words
