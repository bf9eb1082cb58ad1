"""The trusted CA certificates an organization may paste: checked before they are stored, described after."""

import re
import ssl
from datetime import UTC, datetime

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from flask_babel import gettext as _

from ..web.json_envelope import NOT_A_CHOICE, TOO_LONG
from .checks import Invalid, text_value
from .fields import FIELDS, MAX_CA_PEM_LENGTH

_PEM_LABEL = re.compile(r"-----BEGIN ([A-Z0-9 ]+)-----")


def check_trusted_ca(value, now: datetime | None = None) -> str | None:
    """Optional PEM certificates to trust for TLS, stored re-encoded; refuses keys, garbage, expired ones."""
    text = text_value(value, FIELDS["trusted_ca_pem"].label)
    if not text:
        return None
    if len(text.encode("utf-8")) > MAX_CA_PEM_LENGTH:
        raise Invalid(
            _("Paste at most %(size)d KiB of certificates.", size=MAX_CA_PEM_LENGTH // 1024),
            TOO_LONG,
            max=MAX_CA_PEM_LENGTH,
        )
    labels = set(_PEM_LABEL.findall(text))
    if any("PRIVATE KEY" in label for label in labels):
        raise Invalid(
            _("This is a private key. Paste the CA certificate (BEGIN CERTIFICATE), never a key."),
            NOT_A_CHOICE,
        )
    if not labels:
        raise Invalid(
            _("Paste a certificate in PEM format, starting with -----BEGIN CERTIFICATE-----."), NOT_A_CHOICE
        )
    if labels != {"CERTIFICATE"}:
        others = ", ".join(sorted(labels - {"CERTIFICATE"}))
        raise Invalid(
            _("Paste certificates (BEGIN CERTIFICATE) only, not: %(others)s.", others=others), NOT_A_CHOICE
        )
    try:
        certificates = x509.load_pem_x509_certificates(text.encode("ascii"))
    except (ValueError, UnicodeEncodeError):
        raise Invalid(
            _("This is not a readable PEM certificate; paste it again, from BEGIN to END."), NOT_A_CHOICE
        ) from None
    now = now or datetime.now(UTC)
    for certificate in certificates:
        if certificate.not_valid_after_utc < now:
            raise Invalid(
                _(
                    "The certificate %(subject)s expired on %(date)s; remove it or paste a current one.",
                    subject=_subject(certificate),
                    date=f"{certificate.not_valid_after_utc:%Y-%m-%d}",
                ),
                NOT_A_CHOICE,
            )
    pem = "".join(certificate.public_bytes(Encoding.PEM).decode("ascii") for certificate in certificates)
    try:
        # What the SMTP transport will do with it: refuse here what TLS could not use later.
        ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).load_verify_locations(cadata=pem)
    except (ssl.SSLError, ValueError) as error:
        raise Invalid(
            _("This certificate cannot be used for TLS: %(error)s.", error=error), NOT_A_CHOICE
        ) from None
    return pem


def describe_certificates(pem: str | None, now: datetime | None = None) -> list[str]:
    """One line per trusted certificate: its subject and until when it is valid."""
    if not pem:
        return []
    try:
        certificates = x509.load_pem_x509_certificates(pem.encode("ascii"))
    except (ValueError, UnicodeEncodeError):
        return [_("The stored certificate cannot be read; paste it again.")]
    now = now or datetime.now(UTC)
    lines = []
    for certificate in certificates:
        until = certificate.not_valid_after_utc
        if until < now:
            lines.append(
                _("%(subject)s, expired on %(date)s", subject=_subject(certificate), date=f"{until:%Y-%m-%d}")
            )
        else:
            lines.append(
                _(
                    "%(subject)s, valid until %(date)s",
                    subject=_subject(certificate),
                    date=f"{until:%Y-%m-%d}",
                )
            )
    return lines


def _subject(certificate) -> str:
    return certificate.subject.rfc4514_string() or _("(no subject)")
