"""Pasting a Google service-account JSON key: a good one is taken, each kind of bad one says what is wrong."""

import json

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from exastro_mail.oauth import ServiceAccountKeyError, parse_service_account_key
from tests.oauth_servers import SERVICE_ACCOUNT_EMAIL, SERVICE_ACCOUNT_KEY_ID, service_account_key_json

TOKEN_URI = "https://oauth2.googleapis.com/token"


def key_problem(text) -> ServiceAccountKeyError:
    with pytest.raises(ServiceAccountKeyError) as caught:
        parse_service_account_key(text)
    return caught.value


def private_key_body(text: str) -> list[str]:
    """The base64 lines of the private key in a key's JSON: what must never be repeated back."""
    pem = json.loads(text).get("private_key", "")
    return [line for line in pem.splitlines() if line and not line.startswith("-----")]


def test_a_downloaded_key_is_taken_with_its_parts(service_account_rsa_key):
    text = service_account_key_json(service_account_rsa_key, TOKEN_URI)

    key = parse_service_account_key(text)

    assert key.client_email == SERVICE_ACCOUNT_EMAIL
    assert key.token_uri == TOKEN_URI
    assert key.private_key_id == SERVICE_ACCOUNT_KEY_ID
    assert key.project_id == "acme-project"
    assert (
        key.signing_key().public_key().public_numbers()
        == service_account_rsa_key.public_key().public_numbers()
    )
    assert "PRIVATE KEY" not in repr(key)


def test_a_key_as_bytes_with_a_byte_order_mark_is_taken(service_account_rsa_key):
    text = service_account_key_json(service_account_rsa_key, TOKEN_URI)

    key = parse_service_account_key(b"\xef\xbb\xbf" + text.encode())

    assert key.client_email == SERVICE_ACCOUNT_EMAIL


def test_an_ec_key_cannot_sign_rs256(service_account_rsa_key):
    ec_pem = (
        ec.generate_private_key(ec.SECP256R1())
        .private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        .decode()
    )

    problem = key_problem(service_account_key_json(service_account_rsa_key, TOKEN_URI, private_key=ec_pem))

    assert problem.problem == "private_key_not_rsa"


@pytest.mark.parametrize(
    ("overrides", "problem", "words"),
    [
        ({"type": "authorized_user"}, "wrong_type", "type 'authorized_user' is not 'service_account'"),
        ({"type": None}, "wrong_type", "has no type"),
        ({"client_email": None}, "client_email_missing", "no client_email"),
        ({"client_email": "mailer at acme"}, "client_email_invalid", "not a mail address"),
        ({"private_key": None}, "private_key_missing", "no private_key"),
        ({"token_uri": None}, "token_uri_missing", "no token_uri"),
        ({"token_uri": "http://oauth2.googleapis.com/token"}, "token_uri_not_https", "only https URLs"),
        ({"token_uri": "https://user:pw@oauth2.googleapis.com/token"}, "token_uri_not_https", "user name"),
    ],
)
def test_each_kind_of_bad_key_names_what_is_wrong(service_account_rsa_key, overrides, problem, words):
    text = service_account_key_json(service_account_rsa_key, TOKEN_URI, **overrides)

    error = key_problem(text)

    assert error.problem == problem
    assert words in str(error)
    for line in private_key_body(text):
        assert line not in str(error)


def test_a_damaged_private_key_is_refused_without_being_repeated(service_account_rsa_key):
    good = service_account_key_json(service_account_rsa_key, TOKEN_URI)
    pem = json.loads(good)["private_key"]
    damaged_pem = pem.replace(pem.splitlines()[3], pem.splitlines()[3][::-1])
    text = service_account_key_json(service_account_rsa_key, TOKEN_URI, private_key=damaged_pem)

    error = key_problem(text)

    assert error.problem == "private_key_unloadable"
    for line in private_key_body(text):
        assert line not in str(error) and line not in repr(error)


def test_a_key_with_a_passphrase_is_refused(service_account_rsa_key):
    encrypted = service_account_rsa_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"passphrase"),
    ).decode()

    error = key_problem(service_account_key_json(service_account_rsa_key, TOKEN_URI, private_key=encrypted))

    assert error.problem == "private_key_unloadable"


def test_text_that_is_not_json_says_where_without_repeating_it(service_account_rsa_key):
    text = service_account_key_json(service_account_rsa_key, TOKEN_URI)
    broken = text.replace('"client_email"', "client_email")

    error = key_problem(broken)

    assert error.problem == "not_json"
    assert "line " in str(error) and "column " in str(error)
    for line in private_key_body(text):
        assert line not in str(error)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("[1, 2, 3]", "not_an_object"),
        ('"just a string"', "not_an_object"),
        ("", "not_json"),
        (b"\xff\xfe not utf-8", "not_json"),
        ("{" + " " * 70000 + "}", "too_large"),
    ],
)
def test_what_is_not_a_key_file_at_all_is_refused(text, problem):
    assert key_problem(text).problem == problem
