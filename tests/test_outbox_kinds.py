"""Kinds of mail: each one the product sends is registered and delivered as it declares, an unknown one
fails alone, the reset kind refuses a dead link, and the outbox never reaches into password_reset."""

import ast
import json
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from flask_babel import force_locale

from exastro_mail.logs.delivery import delivery_page
from exastro_mail.mailserver.store import settings_for
from exastro_mail.outbox import kinds, status
from exastro_mail.outbox.claim import Claim
from exastro_mail.outbox.enqueue import SEALED_PREFIX, enqueue_mail
from exastro_mail.password_reset import tokens
from exastro_mail.password_reset.mail_kind import PASSWORD_RESET, enqueue_reset_request
from exastro_mail.store.db import db
from exastro_mail.store.models import AuditEvent, OutboxMessage, ResetToken, utcnow
from tests.outbox_helpers import deliver, point_settings_at

PACKAGE = Path(__file__).resolve().parent.parent / "exastro_mail"
# What each kind promises: (an operator may retry it, its bodies are erased once sent, Japanese label).
PROMISES = {
    "notification": (True, False, "通知"),
    "password_changed": (True, False, "パスワード変更"),
    "password_reset": (False, True, "パスワード再設定"),
    "test_mail": (False, False, "テストメール"),
}


def queue_kind(app, organization, user, name, *, link_issued=None):
    """One mail of the named kind to the user, queued as its callers do (a reset mail with its token)."""
    with app.app_context(), db.atomic():
        columns = {}
        if name == PASSWORD_RESET.name:
            token = tokens.new_token()
            now = link_issued or utcnow()
            columns["reset_token"] = tokens.issue(user, token, now=now, ttl_seconds=1800)
        return enqueue_mail(
            organization,
            name,
            to=[user.email],
            subject=f"A {name} mail",
            body_text=f"The {name} text.",
            body_html=f"<p>The {name} text.</p>",
            **columns,
        )


def reloaded(message) -> OutboxMessage:
    return OutboxMessage.get_by_id(message.id)


def test_a_fresh_process_built_by_create_app_knows_every_kind_the_product_sends(tmp_path):
    # Kinds register as their modules are imported: the app factory alone must bring them all in, as
    # it does in the worker process (`exastro-mail worker`), where no test module imported anything.
    script = (
        "import json, sys\n"
        "from exastro_mail import create_app\n"
        "create_app({'INSTANCE_PATH': sys.argv[1]})\n"
        "from exastro_mail.outbox import kinds\n"
        "print(json.dumps({kind.name: kind.retryable for kind in kinds.registered()}))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "instance")],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert json.loads(result.stdout) == {name: promise[0] for name, promise in PROMISES.items()}


@pytest.mark.parametrize("name", sorted(PROMISES))
def test_each_kind_is_delivered_and_keeps_its_body_only_when_not_secret(
    mail_app, acme, alice, smtp_server, name
):
    point_settings_at(mail_app, acme, smtp_server)
    message = queue_kind(mail_app, acme, alice, name)
    secret = PROMISES[name][1]
    assert reloaded(message).body_text.startswith(SEALED_PREFIX) == secret
    assert deliver(mail_app) == 1
    received = smtp_server.wait_for(1)[0]
    assert received.message["Subject"] == f"A {name} mail"
    assert received.message.get_body(("plain",)).get_content().strip() == f"The {name} text."
    sent = reloaded(message)
    assert sent.status == status.SENT
    assert (sent.body_text is None, sent.body_html is None) == (secret, secret)


def test_the_delivery_log_names_each_kind_and_offers_retry_only_where_it_may(
    mail_app, acme, alice, closed_port
):
    point_settings_at(mail_app, acme, None, smtp_host="127.0.0.1", smtp_port=closed_port, encryption="none")
    queued = {name: queue_kind(mail_app, acme, alice, name) for name in PROMISES}
    deliver(mail_app)  # connection refused: each is queued again, to be retried later
    with mail_app.test_request_context():
        rows = {row.id: row for row in delivery_page(acme).rows}
        with force_locale("ja"):
            japanese = {row.id: row.kind_label for row in delivery_page(acme).rows}
    for name, message in queued.items():
        assert rows[message.id].status == status.QUEUED
        assert rows[message.id].can_retry == PROMISES[name][0], name
        assert rows[message.id].can_discard
        assert japanese[message.id] == PROMISES[name][2]


def test_a_mail_of_an_unknown_kind_fails_alone_and_the_rest_of_the_batch_is_sent(
    mail_app, acme, alice, smtp_server
):
    point_settings_at(mail_app, acme, smtp_server)
    first, odd, last = (queue_kind(mail_app, acme, alice, "notification") for _ in range(3))
    # Say, written by a newer exastro-mail that knows a kind this worker does not.
    OutboxMessage.update(kind="newsletter").where(OutboxMessage.id == odd.id).execute()
    assert deliver(mail_app) == 3
    received = smtp_server.wait_for(2)
    assert [mail.message["Message-ID"] for mail in received] == [first.message_id, last.message_id]
    failed = reloaded(odd)
    assert (failed.status, failed.attempts) == (status.FAILED, 1)
    assert failed.last_error == "unknown kind of mail 'newsletter': this worker cannot send it"
    with mail_app.test_request_context():
        (row,) = [row for row in delivery_page(acme).rows if row.id == odd.id]
    assert (row.kind_label, row.can_retry, row.can_discard) == ("newsletter", False, True)


def test_queueing_refuses_an_unknown_kind_and_a_column_of_another_kind(mail_app, acme, alice):
    reset = queue_kind(mail_app, acme, alice, "password_reset")
    with mail_app.app_context(), pytest.raises(ValueError, match="unknown kind of mail 'newsletter'"):
        enqueue_mail(acme, "newsletter", to=["a@example.net"], subject="s", body_text="b")
    with (
        mail_app.app_context(),
        pytest.raises(TypeError, match="notification mail has no column 'reset_token'"),
    ):
        enqueue_mail(
            acme,
            "notification",
            to=["a@example.net"],
            subject="s",
            body_text="b",
            reset_token=reset.reset_token,
        )
    assert [message.id for message in OutboxMessage.select()] == [reset.id]


def test_a_second_kind_under_a_registered_name_is_refused():
    before = kinds.registered()
    with pytest.raises(ValueError, match="already registered as 'notification'"):
        kinds.register(kinds.MailKind("notification", "Newsletter", retryable=False))
    assert kinds.register(kinds.NOTIFICATION) is kinds.NOTIFICATION  # the same kind again is no change
    assert kinds.registered() == before


def test_the_reset_kind_sends_a_live_link_and_refuses_a_dead_one(mail_app, acme, alice):
    live = queue_kind(mail_app, acme, alice, "password_reset")
    dead = queue_kind(mail_app, acme, alice, "password_reset", link_issued=utcnow() - timedelta(seconds=1801))
    with mail_app.app_context():
        claim = Claim.take(10, lease_seconds=60)
        held = {message.id: message for message in claim.messages}
        settings = settings_for(acme)
        assert PASSWORD_RESET.prepare(claim, held[live.id], settings) is True
        assert PASSWORD_RESET.prepare(claim, held[dead.id], settings) is False
    assert reloaded(live).status == status.SENDING  # still held, ready to be composed and sent
    refused = reloaded(dead)
    assert (refused.status, refused.last_error) == (status.EXPIRED, "not sent: the link expired")
    assert (refused.body_text, refused.body_html) == (None, None)


def test_the_reset_kind_drops_a_request_that_names_no_account(mail_app, acme, alice):
    with mail_app.app_context(), db.atomic():
        enqueue_reset_request(acme, "nobody@example.com", send_from="noreply@example.com")
    with mail_app.app_context():
        claim = Claim.take(10, lease_seconds=60)
        (request,) = claim.messages
        assert PASSWORD_RESET.prepare(claim, request, settings_for(acme)) is False
    assert not OutboxMessage.select().exists()
    assert ResetToken.select().count() == 0
    resolved = AuditEvent.get(AuditEvent.action == "password_reset.resolved")
    assert json.loads(resolved.detail) == {"account": "unknown"}


def imports_of(source: str, module: str) -> set[str]:
    """Every module a source imports (at the top or inside a function), relative imports made absolute."""
    package = module.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{parent}.{base}" if base else parent
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def test_the_import_reader_sees_every_way_of_importing_password_reset():
    source = (
        "import exastro_mail.password_reset.flow\n"
        "def later():\n"
        "    from .. import password_reset\n"
        "    from ..password_reset.tokens import token_problem\n"
    )
    found = imports_of(source, "exastro_mail.outbox.worker")
    assert {
        "exastro_mail.password_reset.flow",
        "exastro_mail.password_reset",
        "exastro_mail.password_reset.tokens",
    } <= found


def test_nothing_under_outbox_imports_password_reset():
    offending = []
    for path in sorted((PACKAGE / "outbox").rglob("*.py")):
        module = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        for name in imports_of(path.read_text(), module):
            if name == "exastro_mail.password_reset" or name.startswith("exastro_mail.password_reset."):
                offending.append(f"{path.relative_to(PACKAGE.parent)} imports {name}")
    assert offending == []
