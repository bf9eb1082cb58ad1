"""The field rules of the mail sending server settings, without a request."""

import pytest

from exastro_mail.mailserver.fields import EXASTRO_FIELDS
from exastro_mail.mailserver.rules import check_settings, port_warning
from tests.conftest import VALID_SETTINGS


def check(password_stored=False, **changes):
    data = {**VALID_SETTINGS, **changes}
    return check_settings(data, password_stored=password_stored)


def test_valid_settings_pass_and_are_trimmed():
    checked = check(smtp_host="  smtp.example.com  ", send_name="  ACME  ", smtp_port=" 587 ")
    assert checked.ok, checked.errors
    assert checked.values["smtp_host"] == "smtp.example.com"
    assert checked.values["send_name"] == "ACME"
    assert checked.values["smtp_port"] == 587


@pytest.mark.parametrize(
    ("host", "stored"),
    [
        ("smtp.example.com", "smtp.example.com"),
        ("SMTP.Example.COM", "smtp.example.com"),
        ("mail-1.example.co.jp", "mail-1.example.co.jp"),
        ("localhost", "localhost"),
        ("bücher.example", "xn--bcher-kva.example"),
        ("メール.example.jp", "xn--4dkua4c.example.jp"),
        ("192.0.2.10", "192.0.2.10"),
        ("2001:db8::25", "2001:db8::25"),
        ("[2001:db8::25]", "2001:db8::25"),
        ("smtp.example.com.", "smtp.example.com"),
        ("a" * 63 + ".example", "a" * 63 + ".example"),
    ],
)
def test_host_accepts_names_and_addresses(host, stored):
    checked = check(smtp_host=host)
    assert checked.ok, checked.errors
    assert checked.values["smtp_host"] == stored


@pytest.mark.parametrize(
    ("host", "message"),
    [
        ("", "Enter the SMTP server host."),
        ("   ", "Enter the SMTP server host."),
        ("smtp://smtp.example.com", "without a scheme"),
        ("smtps:smtp.example.com", "without a scheme"),
        ("smtp.example.com:587", "Enter the port in SMTP server port"),
        ("smtp example.com", "must not contain spaces"),
        ("smtp_relay.example.com", "not allowed: _"),
        ("-smtp.example.com", "must not begin or end with a hyphen"),
        ("smtp..example.com", "empty part between dots"),
        ("a" * 64 + ".example.com", "1 to 63 characters"),
        (("a" * 60 + ".") * 4 + "example.com", "at most 253 characters"),
        ("999.1.1.1", "not a valid IPv4 address"),
        ("user@smtp.example.com", "without a path or user"),
        ("smtp.example.com/path", "without a path or user"),
    ],
)
def test_host_rejects_with_the_reason(host, message):
    checked = check(smtp_host=host)
    assert message in checked.errors["smtp_host"]
    assert "smtp_host" not in checked.values


@pytest.mark.parametrize("port", ["1", "25", "65535", 465])
def test_port_accepts_whole_numbers_in_range(port):
    checked = check(smtp_port=port, encryption="ssl")
    assert checked.ok, checked.errors
    assert checked.values["smtp_port"] == int(port)


@pytest.mark.parametrize("port", ["", "0", "65536", "-1", "25.0", "2 5", "abc", "２５", True, 0, 70000])
def test_port_rejects_anything_else(port):
    checked = check(smtp_port=port)
    assert "smtp_port" in checked.errors
    assert (
        "1 to 65535" in checked.errors["smtp_port"]
        or "Enter the SMTP server port" in checked.errors["smtp_port"]
    )


@pytest.mark.parametrize("encryption", ["", "tls", "SSL", None])
def test_encryption_must_be_one_of_three(encryption):
    assert check(encryption=encryption).errors["encryption"] == "Choose None, SSL/TLS or STARTTLS."


@pytest.mark.parametrize(
    ("port", "encryption", "warned"),
    [
        (465, "starttls", True),
        (587, "ssl", True),
        (465, "ssl", False),
        (587, "starttls", False),
        (25, "none", False),
    ],
)
def test_unusual_port_and_encryption_pairs_save_with_a_warning(port, encryption, warned):
    checked = check(smtp_port=str(port), encryption=encryption)
    assert checked.ok
    assert ("smtp_port" in checked.warnings) is warned
    assert (port_warning(port, encryption) is not None) is warned


@pytest.mark.parametrize("field", ["send_from", "reply_to", "envelope_from"])
@pytest.mark.parametrize(
    ("address", "message"),
    [
        ("not-an-address", "not a valid mail address"),
        ("a@b.com, c@d.com", "one mail address only"),
        ("a@b.com; c@d.com", "one mail address only"),
        ("ACME <noreply@example.com>", "put the name in the display name field"),
        ("undisclosed-recipients:;", "one mail address only"),
        ("noreply@example.com\r\nBcc: victim@example.com", "on one line"),
        ("a" * 250 + "@example.com", "at most 255 characters"),
        ("noreply@localhost", "The domain after the @ needs a dot, as in example.com."),
    ],
)
def test_addresses_accept_one_mailbox_only(field, address, message):
    checked = check(**{field: address})
    assert message in checked.errors[field]


@pytest.mark.parametrize(
    ("address", "english", "japanese"),
    [
        ("name@", "Add the domain after the @, as in", "@ の後ろにドメインを入力"),
        ("@example.com", "Add the name before the @, as in", "@ の前に名前を入力"),
        ("a..b@example.com", "Remove one of the two dots in a row.", "連続した 2 つのドット"),
        ("name@[192.0.2.1]", "Use a domain name after the @, not an IP address.", "IP アドレスではなく"),
        ('"name"@example.com', "Write the name before the @ without quotes.", "引用符なし"),
        ("a b@example.com", "Remove the characters that a mail address cannot have.", "使えない文字"),
        ("name@exa_mple.com", "The domain after the @ is not a valid", "ドメイン名が正しくありません"),
    ],
)
def test_address_errors_are_our_own_sentences_in_both_languages(app, address, english, japanese):
    for locale, expected in (("en", english), ("ja", japanese)):
        with app.test_request_context(headers={"Accept-Language": locale}):
            message = check(send_from=address).errors["send_from"]
        assert expected in message
        assert "@-sign" not in message and "email address" not in message


def test_from_is_required_but_reply_to_and_envelope_from_are_optional():
    checked = check(send_from="", reply_to="", envelope_from="")
    assert checked.errors == {"send_from": "Enter a mail address."}
    checked = check(reply_to="  ", envelope_from=None)
    assert checked.ok
    assert checked.values["reply_to"] is None and checked.values["envelope_from"] is None


@pytest.mark.parametrize("field", ["send_from", "reply_to", "envelope_from"])
def test_an_internationalized_domain_is_stored_in_its_ascii_form(field):
    checked = check(**{field: "info@Bücher.example"})
    assert checked.ok, checked.errors
    assert checked.values[field] == "info@xn--bcher-kva.example"


@pytest.mark.parametrize("field", ["send_from", "reply_to", "envelope_from"])
@pytest.mark.parametrize("address", ["通知@example.com", "jörg@example.com", "通知@メール.example.jp"])
def test_an_address_with_non_ascii_before_the_at_is_refused_with_the_reason(field, address):
    checked = check(**{field: address})
    assert checked.errors[field] == (
        "Use only ASCII letters, digits and symbols before the @: many mail servers cannot carry "
        "other characters there."
    )


@pytest.mark.parametrize("field", ["send_name", "reply_name"])
@pytest.mark.parametrize(
    ("name", "message"),
    [("x" * 101, "at most 100 characters"), ("ACME\nBcc: x@example.com", "one line"), ("A\x00B", "one line")],
)
def test_display_names_are_one_short_line(field, name, message):
    assert message in check(**{field: name}).errors[field]


def test_display_name_of_100_characters_is_accepted():
    assert check(send_name="名" * 100).ok


def test_authentication_user_and_password_required_when_ticked():
    checked = check(authentication_user="", authentication_password="")
    assert checked.errors["authentication_user"] == "Enter the authentication user."
    assert checked.errors["authentication_password"] == "Enter the authentication password."


def test_blank_password_keeps_the_stored_one():
    checked = check(password_stored=True, authentication_password="")
    assert checked.ok
    assert checked.values["authentication_password"] is None


def test_password_is_not_trimmed_and_limited_to_255():
    assert check(authentication_password="  spaced  ").values["authentication_password"] == "  spaced  "
    assert "at most 255" in check(authentication_password="p" * 256).errors["authentication_password"]


def test_unticking_authentication_clears_user_and_password():
    checked = check(authentication_enable="", password_stored=True)
    assert checked.ok
    assert checked.values["authentication_enable"] is False
    assert checked.values["authentication_user"] is None
    assert checked.values["authentication_password"] is None


def test_user_longer_than_255_is_rejected():
    assert "at most 255" in check(authentication_user="u" * 256).errors["authentication_user"]


@pytest.mark.parametrize("field", ["smtp_host", "send_from", "send_name"])
def test_non_text_values_get_a_message_not_a_crash(field):
    assert "must be text" in check(**{field: 42}).errors[field]


def test_every_field_has_a_label_from_the_manual():
    labels = [rule.label for rule in EXASTRO_FIELDS.values()]
    assert labels == [
        "SMTP server host",
        "Encryption method",
        "SMTP server port",
        "With authentication",
        "Authentication user",
        "Authentication password",
        "Source mail address (From)",
        "Source display name",
        "Reply mail address (Reply-to)",
        "Reply display name",
        "Sender mail address (Envelope-From)",
    ]
