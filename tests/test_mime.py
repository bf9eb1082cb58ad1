"""Every mail is composed by exastro_mail.mime: whatever anyone typed reaches the server as text, never
as a header, a recipient or a body of its own. Checked on the raw bytes a real SMTP server receives,
on the Python the suite runs on (3.11.7 lacks the CVE-2024-6923 fix)."""

import base64
import email
import email.policy
import re
from datetime import UTC, datetime
from email.header import decode_header, make_header

import pytest

from exastro_mail.mime import HeaderTextError, Mail, address_header, compose, header_text
from exastro_mail.smtp.transport import SmtpSession

NEWLINE_IN_Q = "=?utf-8?q?Hi=0D=0AX-Injected:_yes?="
BCC_IN_Q = "=?utf-8?q?Hi=0D=0ABcc:_thief@evil.example?="
BODY_IN_B = "=?utf-8?b?" + base64.b64encode(b"Hi\r\n\r\nThe body was replaced.").decode() + "?="
HOSTILE = [NEWLINE_IN_Q, BCC_IN_Q, BODY_IN_B, f"Disk full {NEWLINE_IN_Q} again", "=?utf-8?q?=0A?="]


def mail(**changes) -> Mail:
    values = {
        "from_address": "noreply@example.com",
        "from_name": "ACME notifications",
        "reply_to": "support@example.com",
        "reply_name": "ACME support",
        "to": ["carol@example.net"],
        "subject": "Backup finished",
        "text": "The nightly backup finished.",
        "html": "<p>The nightly backup finished.</p>",
        "message_id": "<1.acme@mail.example.test>",
        "date": datetime(2026, 12, 1, 12, 0, tzinfo=UTC),
    }
    values.update(changes)
    return Mail(**values)


def header_block(raw: bytes) -> bytes:
    return raw.split(b"\r\n\r\n", 1)[0]


def header_names(raw: bytes) -> list[bytes]:
    return [
        line.split(b":", 1)[0].lower() for line in header_block(raw).split(b"\r\n") if line[:1] not in b" \t"
    ]


def decoded(raw: bytes, name: str) -> str:
    """A header's text as RFC 2047 reads it (adjacent encoded words joined), from the raw bytes."""
    unfolded = re.sub(rb"\r\n[ \t]", b" ", header_block(raw)).decode("ascii")
    (value,) = [line.split(": ", 1)[1] for line in unfolded.split("\r\n") if line.startswith(f"{name}: ")]
    return str(make_header(decode_header(value)))


def send(server, make_endpoint, message):
    with SmtpSession(make_endpoint(server)) as session:
        session.send(message, "bounces@example.com", ["carol@example.net"])
    return server.wait_for(1)[0]


@pytest.mark.parametrize("typed", HOSTILE)
@pytest.mark.parametrize("where", ["subject", "from_name", "reply_name"])
def test_an_encoded_word_that_decodes_to_a_line_break_stays_text(smtp_server, make_endpoint, typed, where):
    received = send(smtp_server, make_endpoint, compose(mail(**{where: typed})))
    names = header_names(received.raw)
    assert b"x-injected" not in names and b"bcc" not in names
    assert names.count(b"subject") == 1 and names.count(b"from") == 1
    assert received.recipients == ["carol@example.net"]
    parsed = email.message_from_bytes(received.raw, policy=email.policy.default)
    assert parsed.get_body(("plain",)).get_content().strip() == "The nightly backup finished."
    header = {"subject": "Subject", "from_name": "From", "reply_name": "Reply-To"}[where]
    assert (
        decoded(received.raw, header)
        .removesuffix(" <noreply@example.com>")
        .removesuffix(" <support@example.com>")
        == typed
    )  # the reader sees exactly what was typed


def test_japanese_names_and_subjects_are_encoded_words_and_read_back(smtp_server, make_endpoint):
    received = send(
        smtp_server,
        make_endpoint,
        compose(mail(subject="バックアップが終わりました", from_name="ACME 通知", text="本文です。")),
    )
    assert header_block(received.raw).isascii()
    parsed = email.message_from_bytes(received.raw, policy=email.policy.default)
    assert str(parsed["Subject"]) == "バックアップが終わりました"
    assert parsed["From"].addresses[0].display_name == "ACME 通知"
    assert parsed.get_body(("plain",)).get_content().strip() == "本文です。"


def test_plain_ascii_stays_readable_and_names_with_specials_are_quoted():
    assert header_text("Backup finished") == "Backup finished"
    assert address_header("noreply@example.com", "ACME, Inc.") == '"ACME, Inc." <noreply@example.com>'
    assert address_header("noreply@example.com", 'Say "hi"') == 'Say "hi" <noreply@example.com>'.replace(
        'Say "hi"', '"Say \\"hi\\""'
    )
    assert address_header("noreply@example.com") == "noreply@example.com"


@pytest.mark.parametrize("text", ["Hi\r\nX-Injected: yes", "Hi\nthere", "tab\tand\x00nul", "bell\x07"])
def test_raw_control_characters_are_refused(text):
    with pytest.raises(HeaderTextError):
        header_text(text)
    with pytest.raises(HeaderTextError):
        address_header("noreply@example.com", text)


@pytest.mark.parametrize(
    "address",
    [
        "no at sign",
        "two@@example.com",
        "a@b@example.com",
        "<a@example.com>",
        "a b@example.com",
        "通知@example.com",
        "=?utf-8?q?x=0A?=@example.com",
        "a@example.com\r\nBcc: x@evil.example",
    ],
)
def test_what_is_not_a_plain_address_cannot_become_one(address):
    with pytest.raises(HeaderTextError):
        address_header(address)
    with pytest.raises(HeaderTextError):
        compose(mail(to=[address]))


def test_a_message_id_must_look_like_one():
    with pytest.raises(HeaderTextError):
        compose(mail(message_id="<1@x>\r\nX-Injected: yes"))
