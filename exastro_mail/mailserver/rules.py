"""The rules of the mail sending server settings, shared by the form, the API and the HTML attributes."""

import ipaddress
import re
import ssl
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

import idna
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from email_validator import EmailNotValidError, validate_email
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from ..smtp import hosts
from .fields import (
    ADDRESS,
    BOOL,
    CHOICE,
    DISPLAY_NAME,
    FIELDS,
    HOST,
    MAX_ADDRESS_LENGTH,
    MAX_CA_PEM_LENGTH,
    PEM,
    PORT,
    SECRET,
    TEXT,
    Field,
)
from .ports import port_warning

# How long the save-time check of EXASTRO_MAIL_SMTP_DENY_PRIVATE_HOSTS may wait for DNS.
RESOLVE_TIMEOUT_SECONDS = 5.0


@dataclass
class Checked:
    """The outcome of checking submitted settings: clean values, or an error per field."""

    values: dict = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    warnings: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.errors


class _Invalid(ValueError):
    pass


def check_settings(
    data: Mapping[str, object],
    *,
    password_stored: bool = False,
    secrets_stored: tuple[str, ...] = (),
    deny_private_hosts: bool = False,
    resolve: Callable[[str], list[str]] | None = None,
) -> Checked:
    """Check submitted settings. A blank password with authentication on keeps the stored one:
    values["authentication_password"] is then None (so for any write-only field named in
    secrets_stored). A field beyond Exastro's (trusted_ca_pem) is checked, and so saved, only when data
    holds it. deny_private_hosts refuses hosts in private ranges, looked up with resolve."""
    stored = {*secrets_stored, *(["authentication_password"] if password_stored else [])}
    checked = Checked()
    for declared in FIELDS.values():
        if not declared.api_writable and declared.name not in data:
            continue  # beyond Exastro's: left as stored unless sent
        if declared.when and not checked.values.get(declared.when):
            checked.values[declared.name] = None
            continue
        try:
            checked.values[declared.name] = _CHECKS[declared.kind](data.get(declared.name), declared, stored)
        except _Invalid as problem:
            checked.errors[declared.name] = str(problem)
    if deny_private_hosts and "smtp_host" in checked.values:
        try:
            check_public_host(checked.values["smtp_host"], resolve or _resolve_with_timeout)
        except _Invalid as problem:
            del checked.values["smtp_host"]
            checked.errors["smtp_host"] = str(problem)

    if "smtp_port" in checked.values and "encryption" in checked.values:
        warning = port_warning(checked.values["smtp_port"], checked.values["encryption"])
        if warning:
            checked.warnings["smtp_port"] = warning
    return checked


def _text(value, label) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise _Invalid(_("%(label)s must be text.", label=label))
    return value.strip()


def _too_long(value: str, name: str) -> None:
    limit = FIELDS[name].max_length
    if limit is not None and len(value) > limit:
        raise _Invalid(_("Use at most %(max)d characters.", max=limit))


def check_host(value) -> str:
    """An SMTP host: a DNS name (IDN stored as punycode), an IPv4 or an IPv6 address."""
    host = _text(value, FIELDS["smtp_host"].label)
    if not host:
        raise _Invalid(_("Enter the SMTP server host."))
    _too_long(host, "smtp_host")
    if "://" in host or re.match(r"(?i)smtps?:", host):
        raise _Invalid(_("Enter the host name only, without a scheme such as smtp://."))
    if any(character.isspace() for character in host):
        raise _Invalid(_("The host must not contain spaces."))
    if "/" in host or "@" in host:
        raise _Invalid(_("Enter a host name or an IP address only, without a path or user."))
    literal = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    try:
        return ipaddress.ip_address(literal).compressed
    except ValueError:
        pass
    if ":" in host:
        raise _Invalid(
            _("Enter the port in SMTP server port, not in the host (or enter a valid IPv6 address).")
        )
    if re.fullmatch(r"[0-9.]+", host):
        raise _Invalid(_("This is not a valid IPv4 address."))
    return _dns_name(host)


def _dns_name(host: str) -> str:
    name = host[:-1] if host.endswith(".") else host
    for label in name.split("."):
        if not label:
            raise _Invalid(_("The host name has an empty part between dots."))
        if len(label) > 63:
            raise _Invalid(_("Each part of the host name between dots may have 1 to 63 characters."))
        bad = sorted({c for c in label if not (c.isalnum() or c == "-")})
        if bad:
            raise _Invalid(
                _(
                    "The host name may contain only letters, digits and hyphens; not allowed: %(characters)s",
                    characters=" ".join(bad),
                )
            )
        if label.startswith("-") or label.endswith("-"):
            raise _Invalid(_("A part of the host name must not begin or end with a hyphen."))
    try:
        ascii_name = idna.encode(name, uts46=True).decode("ascii")
    except idna.IDNAError as error:
        raise _Invalid(
            _("This is not a valid internationalized host name: %(error)s.", error=error)
        ) from None
    if len(ascii_name) > 253:
        raise _Invalid(_("The host name is longer than 253 characters once encoded."))
    if any(len(label) > 63 for label in ascii_name.split(".")):
        raise _Invalid(_("Each part of the host name between dots may have 1 to 63 characters."))
    return ascii_name.lower()


def check_public_host(host: str, resolve: Callable[[str], list[str]]) -> None:
    """A checked host that is not, and does not resolve to, a loopback, private, link-local or
    metadata address. A name that does not resolve now passes: sending checks again after DNS."""
    try:
        addresses = [ipaddress.ip_address(host).compressed]
    except ValueError:
        try:
            addresses = resolve(host)
        except OSError:
            return
    for address in addresses:
        reason = hosts.forbidden_address(address)
        if reason:
            if address == host:
                raise _Invalid(
                    _(
                        "This installation only allows SMTP servers on public addresses: "
                        "%(host)s is %(reason)s.",
                        host=host,
                        reason=reason,
                    )
                )
            raise _Invalid(
                _(
                    "This installation only allows SMTP servers on public addresses: "
                    "%(host)s resolves to %(address)s, %(reason)s.",
                    host=host,
                    address=address,
                    reason=reason,
                )
            )


def _resolve_with_timeout(host: str) -> list[str]:
    return hosts.resolve(host, timeout=RESOLVE_TIMEOUT_SECONDS)


def check_choice(value, declared: Field) -> str:
    """One of the declared choices' values."""
    chosen = _text(value, declared.label)
    if chosen not in dict(declared.choices):
        labels = [str(label) for _value, label in declared.choices]
        listed = _(", ").join(labels[:-1]) + _(" or ") + labels[-1]
        raise _Invalid(_("Choose %(choices)s.", choices=listed))
    return chosen


def check_port(value) -> int:
    """A whole number from 1 to 65535 (given as a number or as text)."""
    if isinstance(value, bool):
        raise _Invalid(_("Enter a whole number from 1 to 65535."))
    if isinstance(value, int):
        port = value
    else:
        text = _text(value, FIELDS["smtp_port"].label)
        if not text:
            raise _Invalid(_("Enter the SMTP server port."))
        if not text.isascii() or not text.isdigit():
            raise _Invalid(_("Enter a whole number from 1 to 65535."))
        port = int(text)
    if not 1 <= port <= 65535:
        raise _Invalid(_("Enter a whole number from 1 to 65535."))
    return port


def check_address(value, required: bool) -> str | None:
    """One mailbox address (no display name, list or group), syntax only."""
    name_free = _text(value, _l("A mail address"))
    if not name_free:
        if required:
            raise _Invalid(_("Enter a mail address."))
        return None
    if len(name_free) > MAX_ADDRESS_LENGTH:
        raise _Invalid(_("Use at most %(max)d characters.", max=MAX_ADDRESS_LENGTH))
    if "\r" in name_free or "\n" in name_free:
        raise _Invalid(_("A mail address must be on one line."))
    if "," in name_free or ";" in name_free:
        raise _Invalid(_("Enter one mail address only, not a list."))
    if "<" in name_free or ">" in name_free:
        raise _Invalid(_("Enter the address only; put the name in the display name field."))
    if "@" not in name_free:
        raise _Invalid(_("This is not a valid mail address: it needs an @, as in name@example.com."))
    try:
        result = validate_email(name_free, check_deliverability=False)
    except EmailNotValidError as error:
        raise _Invalid(_("This is not a valid mail address: %(error)s", error=error)) from None
    return result.normalized


def check_display_name(value, max_length: int) -> str | None:
    """An optional one-line display name."""
    name = _text(value, _l("A display name"))
    if not name:
        return None
    if len(name) > max_length:
        raise _Invalid(_("Use at most %(max)d characters.", max=max_length))
    if any(unicodedata.category(c) in {"Cc", "Zl", "Zp"} for c in name):
        raise _Invalid(_("A display name must be one line, without control characters."))
    return name


def check_flag(value) -> bool:
    """A checkbox or JSON boolean."""
    if isinstance(value, bool):
        return value
    if value is None:
        return False
    if isinstance(value, str) and value.strip().lower() in {"", "0", "false", "off", "n"}:
        return False
    if isinstance(value, str) and value.strip().lower() in {"1", "true", "on", "y", "yes"}:
        return True
    raise _Invalid(_("Must be true or false."))


def check_auth_user(value) -> str:
    """The SMTP AUTH user, required when authentication is on."""
    user = _text(value, FIELDS["authentication_user"].label)
    if not user:
        raise _Invalid(_("Enter the authentication user."))
    _too_long(user, "authentication_user")
    if any(unicodedata.category(c) == "Cc" for c in user):
        raise _Invalid(_("The user must not contain control characters."))
    return user


def check_auth_password(value, password_stored: bool) -> str | None:
    """A new SMTP password, or None to keep the stored one. Passwords are not trimmed."""
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise _Invalid(_("%(label)s must be text.", label=FIELDS["authentication_password"].label))
    if not value:
        if password_stored:
            return None
        raise _Invalid(_("Enter the authentication password."))
    _too_long(value, "authentication_password")
    if any(c in value for c in "\x00\r\n"):
        raise _Invalid(_("The password must not contain line breaks or NUL characters."))
    return value


_PEM_LABEL = re.compile(r"-----BEGIN ([A-Z0-9 ]+)-----")


def check_trusted_ca(value, now: datetime | None = None) -> str | None:
    """Optional PEM certificates to trust for TLS, stored re-encoded; refuses keys, garbage, expired ones."""
    text = _text(value, FIELDS["trusted_ca_pem"].label)
    if not text:
        return None
    if len(text.encode("utf-8")) > MAX_CA_PEM_LENGTH:
        raise _Invalid(_("Paste at most %(size)d KiB of certificates.", size=MAX_CA_PEM_LENGTH // 1024))
    labels = set(_PEM_LABEL.findall(text))
    if any("PRIVATE KEY" in label for label in labels):
        raise _Invalid(_("This is a private key. Paste the CA certificate (BEGIN CERTIFICATE), never a key."))
    if not labels:
        raise _Invalid(_("Paste a certificate in PEM format, starting with -----BEGIN CERTIFICATE-----."))
    if labels != {"CERTIFICATE"}:
        others = ", ".join(sorted(labels - {"CERTIFICATE"}))
        raise _Invalid(_("Paste certificates (BEGIN CERTIFICATE) only, not: %(others)s.", others=others))
    try:
        certificates = x509.load_pem_x509_certificates(text.encode("ascii"))
    except (ValueError, UnicodeEncodeError):
        raise _Invalid(
            _("This is not a readable PEM certificate; paste it again, from BEGIN to END.")
        ) from None
    now = now or datetime.now(UTC)
    for certificate in certificates:
        if certificate.not_valid_after_utc < now:
            raise _Invalid(
                _(
                    "The certificate %(subject)s expired on %(date)s; remove it or paste a current one.",
                    subject=_subject(certificate),
                    date=f"{certificate.not_valid_after_utc:%Y-%m-%d}",
                )
            )
    pem = "".join(certificate.public_bytes(Encoding.PEM).decode("ascii") for certificate in certificates)
    try:
        # What the SMTP transport will do with it: refuse here what TLS could not use later.
        ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).load_verify_locations(cadata=pem)
    except (ssl.SSLError, ValueError) as error:
        raise _Invalid(_("This certificate cannot be used for TLS: %(error)s.", error=error)) from None
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


# How each kind of field is checked: (value, its declaration, the write-only fields with a stored value).
_CHECKS = {
    HOST: lambda value, declared, stored: check_host(value),
    CHOICE: lambda value, declared, stored: check_choice(value, declared),
    PORT: lambda value, declared, stored: check_port(value),
    ADDRESS: lambda value, declared, stored: check_address(value, declared.required),
    DISPLAY_NAME: lambda value, declared, stored: check_display_name(value, declared.max_length),
    BOOL: lambda value, declared, stored: check_flag(value),
    TEXT: lambda value, declared, stored: check_auth_user(value),
    SECRET: lambda value, declared, stored: check_auth_password(value, declared.name in stored),
    PEM: lambda value, declared, stored: check_trusted_ca(value),
}
