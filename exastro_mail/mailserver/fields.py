"""The mail sending server settings fields, declared once.

The form and the settings page (forms.py, templates/mailserver/settings.html), the rules (rules.py),
the store (store.py), the settings API (api/settings.py), the HTML attributes (maxlength, required)
and the audit log's field names all read FIELDS. Adding a field means adding it here and to
MailServerSettings in store/models.py, with a numbered migration; nothing else: the page gets an
input of its kind with its hint, the rules check it by its kind, the store saves and audits it, and
the API takes and shows it under its api_name. A write-only secret (kind SECRET) is stored sealed in
the column <name>_sealed; a blank value keeps the stored one, it is never shown, and the API's GET
says only <api_name>_set. A field with `when` is used only while that flag is on (and its row is
shown only then). Only what a connection does with a new field is written where the connection is
made (mailserver/endpoint.py).
"""

from dataclasses import dataclass

from flask_babel import lazy_gettext as _l

from ..smtp.endpoint import ENCRYPTION_NONE, ENCRYPTION_SSL, ENCRYPTION_STARTTLS

HOST, PORT, ADDRESS, DISPLAY_NAME, TEXT, SECRET, BOOL, CHOICE, PEM = (
    "host",
    "port",
    "address",
    "display name",
    "text",
    "secret",
    "bool",
    "choice",
    "pem",
)
MAX_ADDRESS_LENGTH = 255
MAX_CA_PEM_LENGTH = 64 * 1024


@dataclass(frozen=True)
class Field:
    """One settings field: what it is called, what it holds and who may write it."""

    name: str
    label: object  # a lazy string: shown in the language of the request that shows it
    kind: str
    max_length: int | None = None
    required: bool = False  # required in every case (HTML `required`)
    when: str | None = None  # the flag field that must be on for this field to be used
    # The API (Exastro's names): api_name, or for a choice one boolean per value in api_flags.
    api_name: str | None = None
    api_flags: tuple[tuple[str, str], ...] = ()
    api_writable: bool = True  # False: ours beyond Exastro's, shown by the API, set on the page only
    missing: object = None  # the message for a blank value, where one is needed (a lazy string)
    hint: object = None  # shown under the input (a lazy string)
    stored_hint: object = None  # shown instead when a write-only value is stored
    controls: str | None = None  # a flag: the HTML id of the rows of the fields used only while it is on
    choices: tuple[tuple[str, object], ...] = ()  # a choice's (value, label); the first is the default

    @property
    def write_only(self) -> bool:
        """Never shown back: sealed at rest, blank keeps the stored value."""
        return self.kind == SECRET

    @property
    def column(self) -> str:
        """The model's column that holds it."""
        return f"{self.name}_sealed" if self.write_only else self.name

    @property
    def api_key(self) -> str:
        """Its name in the JSON API."""
        return self.api_name or self.name

    def html_attributes(self, **extra) -> dict:
        """extra, plus maxlength and required as declared."""
        attrs = dict(extra)
        if self.max_length:
            attrs["maxlength"] = self.max_length
        if self.required:
            attrs["required"] = True
        return attrs


ENCRYPTION_CHOICES = (
    (ENCRYPTION_NONE, _l("None")),
    (ENCRYPTION_SSL, "SSL/TLS"),
    (ENCRYPTION_STARTTLS, "STARTTLS"),
)

_DECLARED = (
    Field(
        "smtp_host",
        _l("SMTP server host"),
        HOST,
        253,
        required=True,
        hint=_l("A host name or an IP address, without smtp:// and without a port."),
    ),
    Field(
        "encryption",
        _l("Encryption method"),
        CHOICE,
        required=True,
        choices=ENCRYPTION_CHOICES,
        api_flags=((ENCRYPTION_SSL, "ssl_enable"), (ENCRYPTION_STARTTLS, "start_tls_enable")),
    ),
    Field("smtp_port", _l("SMTP server port"), PORT, 5, required=True),
    Field("authentication_enable", _l("With authentication"), BOOL, controls="auth-rows"),
    Field(
        "authentication_user",
        _l("Authentication user"),
        TEXT,
        255,
        when="authentication_enable",
        missing=_l("Enter the authentication user."),
    ),
    Field(
        "authentication_password",
        _l("Authentication password"),
        SECRET,
        255,
        when="authentication_enable",
        missing=_l("Enter the authentication password."),
        stored_hint=_l("A password is stored: leave blank to keep the current password."),
    ),
    Field("send_from", _l("Source mail address (From)"), ADDRESS, MAX_ADDRESS_LENGTH, required=True),
    Field("send_name", _l("Source display name"), DISPLAY_NAME, 100),
    Field("reply_to", _l("Reply mail address (Reply-to)"), ADDRESS, MAX_ADDRESS_LENGTH),
    Field("reply_name", _l("Reply display name"), DISPLAY_NAME, 100),
    Field(
        "envelope_from",
        _l("Sender mail address (Envelope-From)"),
        ADDRESS,
        MAX_ADDRESS_LENGTH,
        hint=_l("Used as the SMTP envelope sender (MAIL FROM). Leave blank to use the source address."),
    ),
    Field(
        "trusted_ca_pem",
        _l("Trusted CA certificate (PEM)"),
        PEM,
        MAX_CA_PEM_LENGTH,
        api_writable=False,
        hint=_l(
            "Optional. For a server whose certificate comes from a private CA: paste that CA's certificate "
            "(-----BEGIN CERTIFICATE-----). Certificates are always verified."
        ),
    ),
)
FIELDS: dict[str, Field] = {field.name: field for field in _DECLARED}
# Stored as they are (compared, audited by name); secrets are audited as "changed" only.
STORED_FIELDS = tuple(field.name for field in _DECLARED if not field.write_only)
# Exastro's fields, as its manual lists them; the API takes these.
EXASTRO_FIELDS = {name: field for name, field in FIELDS.items() if field.api_writable}
SECRET_FIELDS = tuple(field.name for field in _DECLARED if field.write_only)


def runs_of_rows() -> list[tuple[str | None, list[Field]]]:
    """The fields in order, in runs that share a flag: (the id of the flag's rows, or None; the fields)."""
    runs: list[tuple[str | None, list[Field]]] = []
    for declared in _DECLARED:
        rows_id = FIELDS[declared.when].controls if declared.when else None
        if runs and runs[-1][0] == rows_id:
            runs[-1][1].append(declared)
        else:
            runs.append((rows_id, [declared]))
    return runs


def stored_values(settings) -> dict:
    """The stored (not write-only) values of saved settings, by field name."""
    return {name: getattr(settings, name) for name in STORED_FIELDS}


def secret_stored(settings, name: str) -> bool:
    """Whether saved settings hold a value for the write-only field name."""
    return bool(settings is not None and getattr(settings, FIELDS[name].column))
