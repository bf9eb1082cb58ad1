"""Delivering mail to real SMTP servers: encryption, certificates, AUTH, replies, timeouts, host policy."""

import re
import ssl
import time
from email.message import EmailMessage

import pytest

from exastro_mail.smtp.endpoint import SmtpEndpoint, tls_context
from exastro_mail.smtp.errors import DeliveryError
from exastro_mail.smtp.hosts import ForbiddenHost, HostPolicy, forbidden_address
from exastro_mail.smtp.outcome import Refusal, Sent
from exastro_mail.smtp.transport import SmtpSession

PASSWORD = "s3cret-SMTP-pass"
SENDER = "bounces@example.com"
RECIPIENT = "alice@example.com"


def make_message(**headers) -> EmailMessage:
    """A small notification mail; headers override the defaults."""
    message = EmailMessage()
    fields = {"From": "ACME <noreply@example.com>", "To": RECIPIENT, "Subject": "Your report is ready"}
    fields.update(headers)
    for name, value in fields.items():
        message[name] = value
    message.set_content("Hello,\nthe report is ready.\n.\nA line with a single dot above.\n")
    return message


def deliver(endpoint, message, envelope_from, recipients, *, deadline=None) -> str:
    """One message on a session of its own, as the outbox worker sends it; the server's reply to DATA."""
    return deliver_for(endpoint, message, envelope_from, recipients, deadline=deadline).reply


def deliver_for(endpoint, message, envelope_from, recipients, *, deadline=None) -> Sent:
    """One message on a session of its own: what the server took it for."""
    with SmtpSession(endpoint, deadline=deadline) as session:
        return session.send(message, envelope_from, recipients)


def deliver_expecting_failure(endpoint, message=None, recipients=(RECIPIENT,)) -> DeliveryError:
    with pytest.raises(DeliveryError) as caught:
        deliver(endpoint, message or make_message(), SENDER, list(recipients))
    return caught.value


def test_plain_delivery_arrives_with_its_headers_and_envelope(smtp_server, make_endpoint):
    message = make_message(Bcc="hidden@example.com")

    reply = deliver(make_endpoint(smtp_server), message, SENDER, [RECIPIENT, "hidden@example.com"])

    assert reply.startswith("250 2.0.0 OK queued as")
    [received] = smtp_server.wait_for(1)
    assert received.envelope_from == SENDER
    assert received.recipients == [RECIPIENT, "hidden@example.com"]
    assert received.message["Subject"] == "Your report is ready"
    assert received.message["From"] == "ACME <noreply@example.com>"
    assert received.message["Bcc"] is None
    assert (
        received.message.get_content() == "Hello,\nthe report is ready.\n.\nA line with a single dot above.\n"
    )
    assert received.tls is False


def test_starttls_delivery_is_encrypted_with_a_verified_certificate(smtp_server_factory, make_endpoint):
    server = smtp_server_factory(mode="starttls", require_starttls=True)

    deliver(make_endpoint(server, encryption="starttls"), make_message(), SENDER, [RECIPIENT])

    [received] = server.wait_for(1)
    assert received.tls is True
    assert server.commands[:3] == ["EHLO", "STARTTLS", "EHLO"]


def test_implicit_tls_delivery_is_encrypted(smtp_server_factory, make_endpoint):
    server = smtp_server_factory(mode="implicit")

    deliver(make_endpoint(server, encryption="ssl"), make_message(), SENDER, [RECIPIENT])

    [received] = server.wait_for(1)
    assert received.tls is True


def test_organization_ca_pasted_as_pem_is_trusted(smtp_server_factory, make_endpoint, smtp_ca):
    server = smtp_server_factory(mode="starttls")

    deliver(make_endpoint(server, ca_file=None, ca_pem=smtp_ca.ca_pem), make_message(), SENDER, [RECIPIENT])

    assert len(server.wait_for(1)) == 1


def test_self_signed_certificate_is_accepted_once_pasted_as_trusted(smtp_server_factory, make_endpoint):
    server = smtp_server_factory(mode="implicit", cert="self_signed")

    deliver(
        make_endpoint(server, ca_file=None, ca_pem=server.trusted_pem), make_message(), SENDER, [RECIPIENT]
    )

    assert len(server.wait_for(1)) == 1


def test_certificate_from_an_unknown_ca_is_refused(smtp_server_factory, make_endpoint):
    server = smtp_server_factory(mode="starttls")

    error = deliver_expecting_failure(make_endpoint(server, ca_file=None))

    assert (error.permanent, error.step, error.kind) == (True, "tls", "certificate_untrusted")
    assert "certificate verify failed: unable to get local issuer certificate" in error.reason
    assert "MAIL" not in server.commands


@pytest.mark.parametrize(
    ("mode", "cert", "host", "expected_reason"),
    [
        ("starttls", "self_signed", "127.0.0.1", "certificate verify failed: self-signed certificate"),
        ("implicit", "self_signed", "127.0.0.1", "certificate verify failed: self-signed certificate"),
        ("starttls", "wrong_host", "localhost", "certificate verify failed: Hostname mismatch"),
        ("implicit", "wrong_host", "localhost", "certificate verify failed: Hostname mismatch"),
        ("implicit", "wrong_host", "127.0.0.1", "certificate verify failed: IP address mismatch"),
    ],
)
def test_bad_certificates_are_permanent_failures_that_say_why(
    smtp_server_factory, make_endpoint, mode, cert, host, expected_reason
):
    server = smtp_server_factory(mode=mode, cert=cert, auth={"mailer": PASSWORD})

    error = deliver_expecting_failure(make_endpoint(server, host=host, username="mailer", password=PASSWORD))

    assert (error.permanent, error.step) == (True, "tls")
    assert expected_reason in error.reason
    assert "AUTH" not in server.commands and "MAIL" not in server.commands


def test_tls_context_always_verifies_and_needs_tls_1_2(make_endpoint, smtp_server):
    context = tls_context(make_endpoint(smtp_server, encryption="ssl"))

    assert context.check_hostname is True
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.minimum_version == ssl.TLSVersion.TLSv1_2


def test_unreadable_trusted_ca_is_a_permanent_failure_before_connecting(smtp_server_factory, make_endpoint):
    server = smtp_server_factory(mode="starttls")

    error = deliver_expecting_failure(make_endpoint(server, ca_pem="not a certificate"))

    assert (error.permanent, error.step, error.kind) == (True, "tls", "ca")
    assert server.connections == 0


def test_auth_success_is_recorded_by_the_server(smtp_server_factory, make_endpoint):
    server = smtp_server_factory(mode="starttls", auth={"mailer": PASSWORD})

    deliver(make_endpoint(server, username="mailer", password=PASSWORD), make_message(), SENDER, [RECIPIENT])

    [received] = server.wait_for(1)
    assert received.authenticated_user == "mailer"


def test_auth_over_an_unencrypted_connection_when_the_server_allows_it(smtp_server_factory, make_endpoint):
    server = smtp_server_factory(auth={"mailer": PASSWORD}, auth_require_tls=False)

    deliver(make_endpoint(server, username="mailer", password=PASSWORD), make_message(), SENDER, [RECIPIENT])

    assert server.wait_for(1)[0].authenticated_user == "mailer"


def test_wrong_password_is_permanent_and_the_password_never_shows(smtp_server_factory, make_endpoint):
    server = smtp_server_factory(mode="implicit", auth={"mailer": "another password"})
    endpoint = make_endpoint(server, username="mailer", password=PASSWORD)

    error = deliver_expecting_failure(endpoint)

    assert (error.permanent, error.step, error.smtp_code, error.kind) == (True, "auth", 535, "auth_rejected")
    assert error.reason == "535 5.7.8 Authentication credentials invalid (AUTH)"
    assert PASSWORD not in str(error) and PASSWORD not in repr(error)
    assert PASSWORD not in repr(endpoint)
    assert "MAIL" not in server.commands


def test_a_wrong_password_is_tried_once_with_one_mechanism(smtp_server_factory, make_endpoint):
    server = smtp_server_factory(mode="starttls", auth={"mailer": "another password"})

    error = deliver_expecting_failure(make_endpoint(server, username="mailer", password=PASSWORD))

    assert (error.smtp_code, error.kind) == (535, "auth_rejected")
    assert server.tried_auth_mechanisms == ["PLAIN"]  # offered: LOGIN and PLAIN


@pytest.mark.parametrize(
    ("options", "settings"),
    [
        pytest.param({"auth": {"mailer": "another password"}}, {"username": "mailer"}, id="535 to AUTH"),
        pytest.param({}, {"username": "mailer"}, id="no AUTH offered"),
        pytest.param({"replies": {"MAIL": "553 5.7.1 sender not allowed"}}, {}, id="553 to MAIL"),
    ],
)
def test_after_a_refusal_the_client_says_quit(smtp_server_factory, make_endpoint, options, settings):
    server = smtp_server_factory(mode="starttls", **options)

    deliver_expecting_failure(make_endpoint(server, password=PASSWORD, **settings))

    assert server.commands[-1] == "QUIT"


def test_login_is_used_when_the_server_offers_only_login(smtp_server_factory, make_endpoint):
    server = smtp_server_factory(mode="starttls", auth={"mailer": PASSWORD}, auth_mechanisms=("LOGIN",))

    deliver(make_endpoint(server, username="mailer", password=PASSWORD), make_message(), SENDER, [RECIPIENT])

    assert server.wait_for(1)[0].authenticated_user == "mailer"
    assert server.tried_auth_mechanisms == ["LOGIN"]


def test_a_server_offering_no_password_mechanism_is_refused_before_any_auth(
    smtp_server_factory, make_endpoint
):
    server = smtp_server_factory(mode="starttls", auth={"mailer": PASSWORD}, auth_mechanisms=("CRAM-MD5",))

    error = deliver_expecting_failure(make_endpoint(server, username="mailer", password=PASSWORD))

    assert (error.permanent, error.step, error.kind) == (True, "auth", "auth_mechanism")
    assert error.reason == "the server offers AUTH CRAM-MD5, none of PLAIN, LOGIN"
    assert "AUTH" not in server.commands and "MAIL" not in server.commands


def test_password_smtplib_cannot_encode_is_refused_without_quoting_it(smtp_server_factory, make_endpoint):
    password = "pässwörd-秘密"
    server = smtp_server_factory(mode="starttls", auth={"mailer": password})

    error = deliver_expecting_failure(make_endpoint(server, username="mailer", password=password))

    assert (error.permanent, error.step) == (True, "auth")
    assert "ä" not in error.reason and "秘" not in error.reason and password not in repr(error)


def test_user_name_set_but_server_offers_no_auth_is_permanent(smtp_server_factory, make_endpoint):
    server = smtp_server_factory(auth={"mailer": PASSWORD})  # AUTH only after STARTTLS, which it lacks

    error = deliver_expecting_failure(make_endpoint(server, username="mailer", password=PASSWORD))

    assert (error.permanent, error.step, error.kind) == (True, "auth", "auth_unavailable")
    assert "MAIL" not in server.commands


def test_server_requiring_auth_refuses_a_sender_without_it(smtp_server_factory, make_endpoint):
    server = smtp_server_factory(auth={"mailer": PASSWORD}, auth_require_tls=False)

    error = deliver_expecting_failure(make_endpoint(server))

    assert (error.permanent, error.step, error.smtp_code) == (True, "mail", 530)


def test_starttls_required_but_not_offered_stops_before_auth_and_mail(smtp_server_factory, make_endpoint):
    server = smtp_server_factory(
        mode="starttls", offer_starttls=False, auth={"mailer": PASSWORD}, auth_require_tls=False
    )

    error = deliver_expecting_failure(make_endpoint(server, username="mailer", password=PASSWORD))

    assert (error.permanent, error.step, error.kind) == (True, "tls", "starttls_unavailable")
    assert "AUTH" not in server.commands and "MAIL" not in server.commands


def test_starttls_answered_with_454_stops_before_auth_and_mail(smtp_server_factory, make_endpoint):
    server = smtp_server_factory(
        mode="starttls",
        starttls_reply="454 4.7.0 TLS not available",
        auth={"mailer": PASSWORD},
        auth_require_tls=False,
    )

    error = deliver_expecting_failure(make_endpoint(server, username="mailer", password=PASSWORD))

    assert (error.permanent, error.step, error.smtp_code) == (True, "tls", 454)
    assert error.reason == "454 4.7.0 TLS not available (STARTTLS)"
    assert "AUTH" not in server.commands and "MAIL" not in server.commands


def test_no_encryption_never_attempts_starttls_even_when_offered(smtp_server_factory, make_endpoint):
    server = smtp_server_factory(mode="starttls")

    deliver(make_endpoint(server, encryption="none"), make_message(), SENDER, [RECIPIENT])

    assert server.wait_for(1)[0].tls is False
    assert "STARTTLS" not in server.commands


@pytest.mark.parametrize(
    ("replies", "step", "code", "permanent", "reason"),
    [
        ({"MAIL": "451 4.3.0 try later"}, "mail", 451, False, "451 4.3.0 try later (MAIL FROM)"),
        (
            {"MAIL": "553 5.7.1 sender not allowed"},
            "mail",
            553,
            True,
            "553 5.7.1 sender not allowed (MAIL FROM)",
        ),
        (
            {"RCPT": "550 5.1.1 mailbox unavailable"},
            "rcpt",
            550,
            True,
            f"550 5.1.1 mailbox unavailable (RCPT TO {RECIPIENT})",
        ),
        (
            {"RCPT": "450 4.2.1 mailbox busy"},
            "rcpt",
            450,
            False,
            f"450 4.2.1 mailbox busy (RCPT TO {RECIPIENT})",
        ),
        ({"DATA": "451 4.3.0 queue full"}, "data", 451, False, "451 4.3.0 queue full (DATA)"),
        ({"DATA": "554 5.6.0 message rejected"}, "data", 554, True, "554 5.6.0 message rejected (DATA)"),
    ],
)
def test_server_replies_decide_whether_to_retry(
    smtp_server_factory, make_endpoint, replies, step, code, permanent, reason
):
    server = smtp_server_factory(replies=replies)

    error = deliver_expecting_failure(make_endpoint(server))

    assert (error.step, error.smtp_code, error.permanent, error.reason) == (step, code, permanent, reason)
    assert server.messages == []


def test_some_recipients_refused_is_still_a_delivery_that_names_each_refusal(
    smtp_server_factory, make_endpoint
):
    refusals = {"nobody": "550 5.1.1 no such user", "busy": "450 4.2.0 mailbox busy"}
    server = smtp_server_factory(replies={"RCPT": lambda address: refusals.get(address.partition("@")[0])})
    recipients = [RECIPIENT, "nobody@example.com", "busy@example.com", "bob@example.com"]

    sent = deliver_for(make_endpoint(server), make_message(), SENDER, recipients)

    assert sent.reply.startswith("250 ")
    assert sent.accepted == (RECIPIENT, "bob@example.com")
    assert sent.refused == (
        Refusal("nobody@example.com", 550, "550 5.1.1 no such user"),
        Refusal("busy@example.com", 450, "450 4.2.0 mailbox busy"),
    )
    assert [refusal.permanent for refusal in sent.refused] == [True, False]
    assert server.wait_for(1)[0].recipients == [RECIPIENT, "bob@example.com"]


def test_when_every_recipient_is_refused_the_error_keeps_each_refusal(smtp_server_factory, make_endpoint):
    refusals = {"nobody": "550 5.1.1 no such user", "busy": "450 4.2.0 mailbox busy"}
    server = smtp_server_factory(replies={"RCPT": lambda address: refusals.get(address.partition("@")[0])})

    error = deliver_expecting_failure(
        make_endpoint(server), recipients=["nobody@example.com", "busy@example.com"]
    )

    assert (error.step, error.permanent) == ("rcpt", False)  # one of them may get it later
    assert [(refusal.address, refusal.code) for refusal in error.refused] == [
        ("nobody@example.com", 550),
        ("busy@example.com", 450),
    ]
    assert server.messages == []


def test_transient_failure_then_success_on_retry(smtp_server_factory, make_endpoint):
    server = smtp_server_factory(replies={"MAIL": ("451 4.3.0 try later", 1)})
    endpoint = make_endpoint(server)

    error = deliver_expecting_failure(endpoint)
    deliver(endpoint, make_message(), SENDER, [RECIPIENT])

    assert error.permanent is False
    assert len(server.wait_for(1)) == 1
    assert server.connections == 2


def test_many_messages_over_one_session_use_one_connection(smtp_server, make_endpoint):
    with SmtpSession(make_endpoint(smtp_server)) as session:
        for number in range(3):
            session.send(make_message(Subject=f"Notice {number}"), SENDER, [RECIPIENT])

    received = smtp_server.wait_for(3)
    assert [item.message["Subject"] for item in received] == ["Notice 0", "Notice 1", "Notice 2"]
    assert smtp_server.connections == 1


def test_a_failed_send_is_reset_before_the_next_one_on_the_same_connection(
    smtp_server_factory, make_endpoint
):
    server = smtp_server_factory(replies={"RCPT": ("550 5.1.1 no such user", 1)})

    with SmtpSession(make_endpoint(server)) as session:
        with pytest.raises(DeliveryError):
            session.send(make_message(), SENDER, ["nobody@example.com"])
        session.send(make_message(), SENDER, [RECIPIENT])

    assert server.wait_for(1)[0].recipients == [RECIPIENT]
    assert "RSET" in server.commands
    assert server.connections == 1


def test_server_dropping_the_connection_mid_message_is_transient(smtp_server_factory, make_endpoint):
    server = smtp_server_factory(drop_after_data=True)

    error = deliver_expecting_failure(make_endpoint(server))

    assert (error.permanent, error.step, error.kind) == (False, "data", "disconnected")


def test_connection_refused_is_transient(closed_port):
    endpoint = SmtpEndpoint(host="127.0.0.1", port=closed_port, encryption="none", timeout=2)

    error = deliver_expecting_failure(endpoint)

    assert (error.permanent, error.step, error.kind) == (False, "connect", "refused")
    assert error.reason == f"connection refused by 127.0.0.1 port {closed_port}"


def test_silent_server_times_out_after_the_timeout(stalling_server):
    endpoint = SmtpEndpoint(
        host=stalling_server.host, port=stalling_server.port, encryption="none", timeout=1
    )
    started = time.monotonic()

    error = deliver_expecting_failure(endpoint)

    assert time.monotonic() - started < 2
    assert (error.permanent, error.step, error.kind) == (False, "ehlo", "timeout")
    assert error.reason == "timed out after 1 s (greeting)"


def test_deadline_stops_a_server_that_trickles_replies(smtp_server_factory, make_endpoint):
    server = smtp_server_factory(delay=0.25)  # every reply line in time, the whole far too slow
    started = time.monotonic()

    with pytest.raises(DeliveryError) as caught:
        deliver(make_endpoint(server, timeout=2), make_message(), SENDER, [RECIPIENT], deadline=started + 1)

    assert time.monotonic() - started < 1.5
    assert caught.value.permanent is False
    # The seconds from the session's start to the deadline: a little under 1 on a busy machine.
    reason = re.fullmatch(r"timed out after ([0-9.]+) s \(deadline\)", caught.value.reason)
    assert reason and 0.5 <= float(reason.group(1)) <= 1, caught.value.reason


def test_non_ascii_address_is_sent_with_smtputf8(smtp_server, make_endpoint):
    endpoint = make_endpoint(smtp_server)

    deliver(endpoint, make_message(To="ユーザー@example.com"), SENDER, ["ユーザー@example.com"])
    deliver(endpoint, make_message(), SENDER, [RECIPIENT])

    international, ascii_only = smtp_server.wait_for(2)
    assert international.recipients == ["ユーザー@example.com"]
    assert international.message["To"] == "ユーザー@example.com"
    assert "SMTPUTF8" in international.mail_options
    assert "SMTPUTF8" not in ascii_only.mail_options


def test_japanese_subject_and_body_arrive_intact(smtp_server, make_endpoint):
    message = make_message(Subject="月次レポートの準備ができました")
    message.set_content("こんにちは。\nレポートの準備ができました。\n")

    deliver(make_endpoint(smtp_server), message, SENDER, [RECIPIENT])

    [received] = smtp_server.wait_for(1)
    assert received.message["Subject"] == "月次レポートの準備ができました"
    assert received.message.get_content() == "こんにちは。\nレポートの準備ができました。\n"
    assert "SMTPUTF8" not in received.mail_options


def test_non_ascii_address_to_a_server_without_smtputf8_is_permanent(smtp_server_factory, make_endpoint):
    server = smtp_server_factory(smtputf8=False)

    error = deliver_expecting_failure(make_endpoint(server), recipients=["ユーザー@example.com"])

    assert (error.permanent, error.kind) == (True, "smtputf8_unsupported")
    assert "SMTPUTF8" in error.reason
    assert "MAIL" not in server.commands


def test_address_with_a_line_break_is_refused_before_sending(smtp_server, make_endpoint):
    error = deliver_expecting_failure(
        make_endpoint(smtp_server), recipients=["a@example.com\r\nRCPT TO:<b@x>"]
    )

    assert (error.permanent, error.step) == (True, "rcpt")
    assert "MAIL" not in smtp_server.commands


def test_deny_private_hosts_refuses_loopback_before_connecting(smtp_server, make_endpoint):
    error = deliver_expecting_failure(make_endpoint(smtp_server, host_policy=HostPolicy()))

    assert (error.permanent, error.step, error.kind) == (True, "resolve", "forbidden_host")
    assert "127.0.0.1" in error.reason and "loopback" in error.reason
    assert smtp_server.connections == 0


@pytest.mark.parametrize(
    ("address", "named"),
    [
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("10.0.0.1", "10.0.0.0/8"),
        ("172.16.5.4", "172.16.0.0/12"),
        ("192.168.1.1", "192.168.0.0/16"),
        ("169.254.169.254", "link-local"),
        ("fe80::1%eth0", "link-local"),
        ("fc00::1", "fc00::/7"),
        ("100.64.0.1", "100.64.0.0/10"),
        ("0.0.0.0", "unspecified"),
        ("::", "unspecified"),
        ("224.0.0.1", "multicast"),
        ("255.255.255.255", "reserved"),
        ("::ffff:127.0.0.1", "loopback"),
        ("::ffff:169.254.169.254", "link-local"),
        ("64:ff9b::a00:1", "10.0.0.0/8"),
        ("2002:7f00:1::", "loopback"),
        ("192.0.2.1", "not a public address"),
    ],
)
def test_private_and_special_addresses_are_forbidden(address, named):
    reason = forbidden_address(address)

    assert reason is not None and named in reason


@pytest.mark.parametrize("address", ["8.8.8.8", "1.1.1.1", "2001:4860:4860::8888", "::ffff:8.8.8.8"])
def test_public_addresses_are_allowed(address):
    assert forbidden_address(address) is None


def test_the_host_policy_names_the_host_the_range_and_the_way_out():
    check_host = HostPolicy().check
    with pytest.raises(
        ForbiddenHost,
        match=r"^127\.0\.0\.2 is a loopback address \(127\.0\.0\.0/8\); the operator may allow it with "
        r"EXASTRO_MAIL_SMTP_ALLOWED_HOSTS\.$",
    ):
        check_host("127.0.0.2")
    with pytest.raises(ForbiddenHost, match=r"^localhost resolves to .*loopback"):
        check_host("localhost")
    assert check_host("8.8.8.8") == ["8.8.8.8"]
