"""The Mail sending server settings page as rendered, with whatever Send test mail has to show."""

from flask import render_template
from flask_login import current_user

from .certificates import describe_certificates
from .credentials import stored_hints, unencrypted_auth_warning
from .fields import stored_values
from .ports import DEFAULT_PORTS
from .sections import CHECKED_INLINE


def render_settings(
    form,
    stored,
    *,
    warning=None,
    warnings=None,
    test_outcome=None,
    test_run=None,
    test_problems=None,
    test_limited=None,
    idn_hints=None,
    status=200,
):
    """The page and its status: the form, the stored settings' hints, and a test mail's result, or its run
    while it has none."""
    if not form.test_recipient.data:
        form.test_recipient.data = current_user.email
    if warnings is None:
        warnings = {"encryption": unencrypted_auth_warning(stored_values(stored))} if stored else {}
    return (
        render_template(
            "mailserver/settings.html",
            form=form,
            stored=stored,
            stored_warning=warning,
            field_warnings=warnings,
            stored_hints=stored_hints(stored),
            default_ports=DEFAULT_PORTS,
            trusted_certificates=describe_certificates(stored.trusted_ca_pem if stored else None),
            test_outcome=test_outcome,
            test_run=test_run,
            test_problems=test_problems,
            test_limited=test_limited,
            idn_hints=idn_hints or {},
            checked_inline=CHECKED_INLINE,
        ),
        status,
    )
