"""What the mail sending server settings tell the rest of the product, without knowing who listens."""

from blinker import Namespace

_signals = Namespace()

# Sent inside the transaction that audits a test mail: sender the organization; message (the composed
# email.message.Message, or None when the settings could not be used), recipient, and report (the
# MailTestReport: ok, failed_step, reply).
# The delivery log lists it (logs/test_mails.py).
test_mail_sent = _signals.signal("test-mail-sent")
