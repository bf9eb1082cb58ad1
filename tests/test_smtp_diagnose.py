"""The admin's test mail: each step of a real delivery, where it failed, and a hint that fits."""

import time
from email.message import EmailMessage

import pytest

from exastro_mail.mailserver.hints import explain, hint
from exastro_mail.smtp.diagnose import diagnose
from exastro_mail.smtp.endpoint import SmtpEndpoint
from exastro_mail.smtp.errors import DeliveryError
from exastro_mail.smtp.hosts import HostPolicy

PASSWORD = "s3cret-SMTP-pass"
SENDER = "bounces@example.com"
RECIPIENT = "admin@example.com"


def make_test_mail() -> EmailMessage:
    """The message the settings page sends as its test mail."""
    message = EmailMessage()
    message["From"] = "noreply@example.com"
    message["To"] = RECIPIENT
    message["Subject"] = "Test mail from exastro-mail"
    message.set_content("If you can read this, the mail server settings work.\n")
    return message


def run_test_mail(endpoint, deadline_seconds=5.0, recipients=(RECIPIENT,)):
    return explain(diagnose(endpoint, make_test_mail(), SENDER, list(recipients), deadline_seconds), endpoint)


def step_names(diagnosis) -> list[str]:
    return [step.name for step in diagnosis.steps]


def failed_detail(diagnosis) -> str:
    [failed] = [step for step in diagnosis.steps if not step.ok]
    assert failed.name == diagnosis.failed_step
    return failed.detail


def test_successful_test_mail_over_starttls_shows_every_step(smtp_server_factory, make_endpoint):
    server = smtp_server_factory(mode="starttls", require_starttls=True, auth={"mailer": PASSWORD})

    diagnosis = run_test_mail(make_endpoint(server, username="mailer", password=PASSWORD))

    assert diagnosis.ok and diagnosis.failed_step is None and diagnosis.hint is None
    assert step_names(diagnosis) == [
        "Name resolution",
        "TCP connect",
        "EHLO",
        "TLS",
        "AUTH",
        "MAIL FROM",
        "RCPT TO",
        "DATA",
        "Accepted",
    ]
    steps = {step.name: step for step in diagnosis.steps}
    assert all(step.ok for step in diagnosis.steps)
    assert steps["Name resolution"].detail == "127.0.0.1"
    assert steps["TCP connect"].detail.startswith(f"connected to 127.0.0.1 port {server.port} in ")
    assert steps["TLS"].detail.startswith("STARTTLS, TLSv1.")
    assert "certificate for localhost, 127.0.0.1" in steps["TLS"].detail
    assert steps["TLS"].detail.endswith("verified")
    assert "AUTH LOGIN PLAIN" in steps["EHLO"].detail
    assert steps["AUTH"].detail == "accepted for mailer with PLAIN"
    assert steps["RCPT TO"].detail == f"{RECIPIENT}: 250 OK"
    assert steps["Accepted"].detail.startswith("250 2.0.0 OK queued as")
    assert diagnosis.smtp_code == 250 and diagnosis.reply == steps["Accepted"].detail
    assert PASSWORD not in repr(diagnosis)
    assert server.wait_for(1)[0].message["Subject"] == "Test mail from exastro-mail"


def test_unencrypted_test_mail_without_auth_marks_those_steps_not_used(smtp_server, make_endpoint):
    diagnosis = run_test_mail(make_endpoint(smtp_server))

    assert diagnosis.ok
    assert step_names(diagnosis) == [
        "Name resolution",
        "TCP connect",
        "TLS",
        "EHLO",
        "AUTH",
        "MAIL FROM",
        "RCPT TO",
        "DATA",
        "Accepted",
    ]
    steps = {step.name: step for step in diagnosis.steps}
    assert steps["TLS"].detail == steps["AUTH"].detail == ""
    assert not steps["TLS"].used and not steps["AUTH"].used and steps["EHLO"].used


def test_implicit_tls_step_shows_version_and_certificate(smtp_server_factory, make_endpoint):
    server = smtp_server_factory(mode="implicit")

    diagnosis = run_test_mail(make_endpoint(server))

    assert diagnosis.ok
    assert step_names(diagnosis)[:4] == ["Name resolution", "TCP connect", "TLS", "EHLO"]
    assert diagnosis.steps[2].detail.startswith("TLSv1.")


def test_wrong_password_fails_at_auth_with_a_hint_and_no_password(smtp_server_factory, make_endpoint):
    server = smtp_server_factory(mode="implicit", auth={"mailer": "another password"})

    diagnosis = run_test_mail(make_endpoint(server, username="mailer", password=PASSWORD))

    assert (diagnosis.ok, diagnosis.failed_step, diagnosis.smtp_code) == (False, "AUTH", 535)
    assert diagnosis.hint == "The server rejected the user name or password."
    assert PASSWORD not in repr(diagnosis)


def test_certificate_for_another_name_gets_a_hint_naming_the_host(smtp_server_factory, make_endpoint):
    server = smtp_server_factory(mode="starttls", cert="wrong_host")

    diagnosis = run_test_mail(make_endpoint(server, host="localhost"))

    assert diagnosis.failed_step == "TLS"
    assert "Hostname mismatch" in failed_detail(diagnosis)
    assert diagnosis.hint == "The certificate's names do not include the host localhost."


def test_self_signed_certificate_hint_points_at_the_trusted_ca_field(smtp_server_factory, make_endpoint):
    server = smtp_server_factory(mode="implicit", cert="self_signed")

    diagnosis = run_test_mail(make_endpoint(server))

    assert diagnosis.failed_step == "TLS"
    assert "self-signed certificate" in failed_detail(diagnosis)
    assert "Trusted CA certificate" in diagnosis.hint


def test_starttls_not_offered_suggests_another_encryption_method(smtp_server_factory, make_endpoint):
    server = smtp_server_factory(mode="starttls", offer_starttls=False)

    diagnosis = run_test_mail(make_endpoint(server))

    assert diagnosis.failed_step == "TLS"
    assert "does not offer STARTTLS" in failed_detail(diagnosis)
    assert "choose SSL/TLS" in diagnosis.hint
    assert "MAIL" not in server.commands


def test_starttls_refused_with_454(smtp_server_factory, make_endpoint):
    server = smtp_server_factory(mode="starttls", starttls_reply="454 4.7.0 TLS not available")

    diagnosis = run_test_mail(make_endpoint(server))

    assert (diagnosis.failed_step, diagnosis.smtp_code) == ("TLS", 454)
    assert diagnosis.reply == "454 4.7.0 TLS not available (STARTTLS)"
    assert "choose SSL/TLS" in diagnosis.hint


def test_connection_refused_hint_says_check_host_and_port(closed_port):
    endpoint = SmtpEndpoint(host="127.0.0.1", port=closed_port, encryption="none", timeout=2)

    diagnosis = run_test_mail(endpoint)

    assert step_names(diagnosis) == ["Name resolution", "TCP connect"]
    assert diagnosis.failed_step == "TCP connect"
    assert "check the host and port" in diagnosis.hint


@pytest.mark.parametrize(
    ("replies", "failed_step", "code", "hint_part"),
    [
        ({"RCPT": "550 5.1.1 mailbox unavailable"}, "RCPT TO", 550, "refused the recipient"),
        ({"MAIL": "553 5.7.1 sender not allowed"}, "MAIL FROM", 553, "refused the sender"),
        ({"MAIL": "451 4.3.0 try later"}, "MAIL FROM", 451, None),
        ({"DATA": "554 5.6.0 message rejected"}, "DATA", 554, None),
    ],
)
def test_refusals_name_the_step_and_keep_the_servers_reply(
    smtp_server_factory, make_endpoint, replies, failed_step, code, hint_part
):
    server = smtp_server_factory(replies=replies)

    diagnosis = run_test_mail(make_endpoint(server))

    assert (diagnosis.failed_step, diagnosis.smtp_code) == (failed_step, code)
    assert diagnosis.reply.startswith(next(iter(replies.values())))
    if hint_part is None:
        assert diagnosis.hint is None
    else:
        assert hint_part in diagnosis.hint


def test_server_requiring_auth_hint_asks_for_credentials(smtp_server_factory, make_endpoint):
    server = smtp_server_factory(auth={"mailer": PASSWORD}, auth_require_tls=False)

    diagnosis = run_test_mail(make_endpoint(server))

    assert (diagnosis.failed_step, diagnosis.smtp_code) == ("MAIL FROM", 530)
    assert diagnosis.hint == "The server requires authentication; set a user name and password."


def test_silent_server_returns_within_the_deadline(stalling_server):
    endpoint = SmtpEndpoint(
        host=stalling_server.host, port=stalling_server.port, encryption="none", timeout=10
    )
    started = time.monotonic()

    diagnosis = run_test_mail(endpoint, deadline_seconds=1)

    assert time.monotonic() - started < 2
    assert diagnosis.failed_step == "EHLO"
    assert "timed out after 1 s" in failed_detail(diagnosis)


def test_tls_handshake_with_a_silent_server_returns_within_the_deadline(stalling_server):
    endpoint = SmtpEndpoint(
        host=stalling_server.host, port=stalling_server.port, encryption="ssl", timeout=10
    )
    started = time.monotonic()

    diagnosis = run_test_mail(endpoint, deadline_seconds=1)

    assert time.monotonic() - started < 2
    assert diagnosis.failed_step == "TLS"
    assert "timed out after 1 s" in failed_detail(diagnosis)


def test_trickling_server_returns_within_the_deadline(smtp_server_factory, make_endpoint):
    server = smtp_server_factory(delay=0.25)
    started = time.monotonic()

    diagnosis = run_test_mail(make_endpoint(server, timeout=2), deadline_seconds=1)

    assert time.monotonic() - started < 2
    assert not diagnosis.ok
    assert "timed out after 1 s" in failed_detail(diagnosis)


def test_starttls_to_a_server_that_expects_tls_at_once_times_out_with_a_hint(
    smtp_server_factory, make_endpoint
):
    server = smtp_server_factory(mode="implicit")  # what port 465 does
    started = time.monotonic()

    diagnosis = run_test_mail(make_endpoint(server, encryption="starttls"), deadline_seconds=1)

    assert time.monotonic() - started < 2
    assert diagnosis.failed_step == "EHLO"
    assert "timed out after 1 s" in failed_detail(diagnosis)
    assert diagnosis.hint == "The server sent no greeting; if it expects TLS from the start, choose SSL/TLS."


def test_ssl_to_a_server_that_expects_starttls_gets_a_hint(smtp_server, make_endpoint):
    diagnosis = run_test_mail(make_endpoint(smtp_server, encryption="ssl"))  # what port 587 does

    assert diagnosis.failed_step == "TLS"
    assert failed_detail(diagnosis).startswith("TLS handshake failed")
    assert "may expect STARTTLS or no encryption" in diagnosis.hint


def test_private_host_is_refused_at_name_resolution(smtp_server, make_endpoint):
    diagnosis = run_test_mail(make_endpoint(smtp_server, host_policy=HostPolicy()))

    assert diagnosis.failed_step == "Name resolution"
    assert diagnosis.hint.startswith("This installation only connects to public addresses.")
    assert "EXASTRO_MAIL_SMTP_ALLOWED_HOSTS" in diagnosis.hint
    assert smtp_server.connections == 0


@pytest.mark.parametrize(
    ("port", "encryption", "step", "kind", "expected"),
    [
        (465, "none", "ehlo", "timeout", "Port 465 usually expects SSL/TLS."),
        (465, "starttls", "ehlo", "timeout", "Port 465 usually expects SSL/TLS."),
        (465, "starttls", "tls", "starttls_unavailable", "Port 465 usually expects SSL/TLS."),
        (587, "ssl", "tls", "tls_handshake", "Port 587 usually expects STARTTLS."),
        (587, "ssl", "tls", "timeout", "Port 587 usually expects STARTTLS."),
        (
            2525,
            "ssl",
            "tls",
            "tls_handshake",
            "The server did not answer with TLS; it may expect STARTTLS or no encryption on this port.",
        ),
        (
            465,
            "ssl",
            "tls",
            "certificate_name",
            "The certificate's names do not include the host smtp.example.com.",
        ),
        (
            587,
            "starttls",
            "auth",
            "auth_unavailable",
            "The server does not offer authentication; clear the user name or check the server settings.",
        ),
        (
            25,
            "none",
            "auth",
            "auth_unavailable",
            "The server offers no authentication without encryption; choose STARTTLS or SSL/TLS.",
        ),
    ],
)
def test_hints_depend_on_the_port_and_the_encryption_method(port, encryption, step, kind, expected):
    endpoint = SmtpEndpoint(host="smtp.example.com", port=port, encryption=encryption)
    error = DeliveryError("what went wrong", permanent=True, step=step, kind=kind)

    assert hint(endpoint, error) == expected


def test_a_server_wanting_starttls_first_gets_the_hint_to_choose_starttls(smtp_server_factory, make_endpoint):
    server = smtp_server_factory(mode="starttls", require_starttls=True)

    diagnosis = run_test_mail(make_endpoint(server, encryption="none"))

    assert (diagnosis.failed_step, diagnosis.smtp_code) == ("MAIL FROM", 530)
    assert diagnosis.hint == (
        "The server wants the connection encrypted before it takes mail; choose STARTTLS as the "
        "encryption method."
    )


def test_the_starttls_hint_needs_the_server_to_offer_starttls(smtp_server_factory, make_endpoint):
    server = smtp_server_factory(auth={"mailer": PASSWORD}, auth_require_tls=False)  # no STARTTLS

    diagnosis = run_test_mail(make_endpoint(server, encryption="none"))

    assert diagnosis.smtp_code == 530
    assert diagnosis.hint == "The server requires authentication; set a user name and password."


RELAY_DENIED = "554 5.7.1 <carol@elsewhere.example>: Relay access denied (RCPT TO carol@elsewhere.example)"
NO_SUCH_USER = "550 5.1.1 <carol@example.net>: Recipient address rejected (RCPT TO carol@example.net)"


@pytest.mark.parametrize(
    ("reason", "offered", "username", "expected"),
    [
        (RELAY_DENIED, {"auth", "starttls"}, None, "This server wants authentication before it relays"),
        (RELAY_DENIED, {"starttls"}, None, "The server refused the recipient"),  # AUTH not offered
        (RELAY_DENIED, {"auth"}, "mailer", "The server refused the recipient"),  # AUTH was used
        (NO_SUCH_USER, {"auth"}, None, "The server refused the recipient"),  # not a policy refusal
    ],
)
def test_a_relay_refusal_asks_for_authentication_only_where_the_server_offers_it_and_none_was_used(
    reason, offered, username, expected
):
    endpoint = SmtpEndpoint(host="smtp.example.com", port=587, encryption="starttls", username=username)
    code = int(reason[:3])
    error = DeliveryError(reason, permanent=True, step="rcpt", smtp_code=code, extensions=frozenset(offered))

    assert hint(endpoint, error).startswith(expected)
