"""How fast the outbox delivers, against a plain smtplib loop on one connection, in the same process.

Queues 1000 notifications for one organization whose settings point at a local aiosmtpd, and times the
outbox worker (`run_worker(once=True)`: claim, compose, send over one connection per batch, record each
outcome in SQLite) until all are sent. Then times the baseline: smtplib.SMTP on one connection building
and sending the same 1000 messages (text and HTML, the same headers) with send_message. Both run in this
process against the same server, the baseline twice (before and after) to show the noise. It prints both
rates and their ratio against the goal (at least 0.7).

    .venv/bin/python bench/outbox_delivery_rate.py [--mails 1000]
"""

import argparse
import os
import smtplib
import sys
import tempfile
import time
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path

from local_smtp import HOST, LocalSmtpServer

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from exastro_mail import create_app
from exastro_mail.auth.accounts import create_organization  # noqa: E402
from exastro_mail.mailserver.store import save_settings  # noqa: E402
from exastro_mail.outbox import status  # noqa: E402
from exastro_mail.outbox.enqueue import enqueue_mail  # noqa: E402
from exastro_mail.outbox.worker import run_worker  # noqa: E402
from exastro_mail.store import migrations  # noqa: E402
from exastro_mail.store.db import db  # noqa: E402
from exastro_mail.store.models import OutboxMessage  # noqa: E402

GOAL_RATIO = 0.7
TEXT = "The nightly backup of project {number} finished at 02:13 UTC.\n\nNothing needs to be done.\n"
HTML = "<p>The nightly backup of project {number} finished at 02:13 UTC.</p><p>Nothing needs to be done.</p>"


def outbox_rate(smtp: LocalSmtpServer, mails: int) -> float:
    """Mails per second the outbox worker delivers from a queue of `mails` notifications."""
    with tempfile.TemporaryDirectory(prefix="exastro-bench-") as folder:
        app = create_app(
            {
                "INSTANCE_PATH": os.path.join(folder, "instance"),
                "BASE_URL": "http://mail.example.test",
                "SMTP_ALLOWED_HOSTS": HOST,  # the local aiosmtpd (loopback is refused by default)
            }
        )
        with app.app_context():
            migrations.migrate()
            organization = create_organization("acme", "ACME Corp")
            settings = {
                "smtp_host": HOST,
                "smtp_port": smtp.port,
                "encryption": "none",
                "send_from": "noreply@example.com",
                "send_name": "ACME notifications",
                "authentication_enable": False,
            }
            save_settings(organization, settings, actor="bench")
            with db.atomic():
                for number in range(mails):
                    enqueue_mail(
                        organization,
                        "notification",
                        to=[f"user{number}@example.net"],
                        subject=f"Backup {number} finished",
                        body_text=TEXT.format(number=number),
                        body_html=HTML.format(number=number),
                    )
            before = smtp.received
            started = time.perf_counter()
            run_worker(app, once=True)
            elapsed = time.perf_counter() - started
            sent = OutboxMessage.select().where(OutboxMessage.status == status.SENT).count()
            db.close()
        if sent != mails or smtp.received - before != mails:
            raise SystemExit(f"the outbox sent {sent} of {mails} (server got {smtp.received - before})")
    return mails / elapsed


def smtplib_rate(smtp: LocalSmtpServer, mails: int) -> float:
    """Mails per second a plain smtplib loop sends on one connection, building the same messages."""
    before = smtp.received
    started = time.perf_counter()
    with smtplib.SMTP(HOST, smtp.port, timeout=10) as client:
        for number in range(mails):
            message = EmailMessage()
            message["From"] = "ACME notifications <noreply@example.com>"
            message["To"] = f"user{number}@example.net"
            message["Subject"] = f"Backup {number} finished"
            message["Date"] = formatdate(usegmt=True)
            message["Message-ID"] = make_msgid(domain="example.com")
            message["Auto-Submitted"] = "auto-generated"
            message.set_content(TEXT.format(number=number))
            message.add_alternative(HTML.format(number=number), subtype="html")
            client.send_message(message)
    elapsed = time.perf_counter() - started
    if smtp.received - before != mails:
        raise SystemExit(f"smtplib sent {smtp.received - before} of {mails}")
    return mails / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mails", type=int, default=1000)
    options = parser.parse_args()

    smtp = LocalSmtpServer().start()
    try:
        smtplib_rate(smtp, 50)  # warm-up: imports and the email package's first use
        baseline_before = smtplib_rate(smtp, options.mails)
        outbox = outbox_rate(smtp, options.mails)
        baseline_after = smtplib_rate(smtp, options.mails)
    finally:
        smtp.stop()
    baseline = (baseline_before + baseline_after) / 2
    ratio = outbox / baseline
    print(f"delivering {options.mails} mails to a local aiosmtpd, one process")
    print(
        f"  smtplib loop, one connection   {baseline_before:7.0f} mails/s before, {baseline_after:.0f} after"
    )
    print(f"  outbox worker                  {outbox:7.0f} mails/s")
    verdict = "met" if ratio >= GOAL_RATIO else "NOT met"
    print(f"  ratio outbox / smtplib: {ratio:.2f} (goal at least {GOAL_RATIO}: {verdict})")


if __name__ == "__main__":
    main()
