"""The mail sending server settings fields, declared once.

The form and the settings page (forms.py, templates/mailserver/settings.html), the rules (rules.py),
the store (store.py), the settings API (api/settings.py), the HTML attributes (maxlength, required)
and the audit log's field names all read FIELDS. Adding a field means adding it here and to
MailServerSettings in store/models.py, with a numbered migration; nothing else: the page gets an
input of its kind with its hint, the rules check it by its kind, the store saves and audits it, and
the API takes and shows it under its api_name. A write-only secret (kind SECRET or KEY) is stored
sealed in the column <name>_sealed; a blank value keeps the stored one (only while the fields named
in its bound_to are unchanged: a stored secret never follows a new server), it is never shown, and
the API's GET says only <api_name>_set. A field with `when` is used only while that field is on (a
flag) or holds one of `when_in` (a choice), and while that field is used itself; its row is shown
only then, and an unused field is saved empty. Only what a connection does with a new field is
written where the connection is made (mailserver/endpoint.py).
"""

from collections.abc import Mapping
from dataclasses import dataclass

from flask_babel import lazy_gettext as _l

from ..oauth import GRAPH_URL
from ..smtp.endpoint import ENCRYPTION_NONE, ENCRYPTION_SSL, ENCRYPTION_STARTTLS

HOST, PORT, ADDRESS, DISPLAY_NAME, TEXT, SECRET, BOOL, CHOICE, PEM, URL, KEY = (
    "host",
    "port",
    "address",
    "display name",
    "text",
    "secret",
    "bool",
    "choice",
    "pem",
    "url",
    "key",  # a write-only JSON key file (a Google service account's)
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
    when: str | None = None  # the flag (or choice) field that must be on for this field to be used
    when_in: tuple[str, ...] = ()  # for a choice in `when`: the values for which this field is used
    # The API (Exastro's names): api_name, or for a choice one boolean per value in api_flags.
    api_name: str | None = None
    api_flags: tuple[tuple[str, str], ...] = ()
    api_writable: bool = True  # False: ours beyond Exastro's, shown by the API, set on the page only
    exastro: bool = True  # one of Exastro's own fields (False: ours, which an Exastro body leaves out)
    missing: object = None  # the message for a blank value, where one is needed (a lazy string)
    hint: object = None  # shown under the input (a lazy string)
    stored_hint: object = None  # shown instead when a write-only value is stored
    controls: str | None = None  # a flag: the HTML id of the rows of the fields used only while it is on
    choices: tuple[tuple[str, object], ...] = ()  # a choice's (value, label); the first is the default
    default: str | None = None  # what a blank value stands for (and the input's initial value)
    # A write-only field: a blank value keeps the stored one only while these fields keep their values.
    bound_to: tuple[str, ...] = ()
    retype: object = None  # the message when one of them changed and the value was left blank

    @property
    def write_only(self) -> bool:
        """Never shown back: sealed at rest, blank keeps the stored value."""
        return self.kind in (SECRET, KEY)

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

TRANSPORT_SMTP, TRANSPORT_GRAPH = "smtp", "microsoft_graph"
TRANSPORT_CHOICES = ((TRANSPORT_SMTP, "SMTP"), (TRANSPORT_GRAPH, "Microsoft Graph"))
METHOD_PASSWORD, METHOD_CLIENT_CREDENTIALS, METHOD_SERVICE_ACCOUNT = (
    "password",
    "oauth2_client_credentials",
    "oauth2_service_account",
)
METHOD_CHOICES = (
    (METHOD_PASSWORD, _l("Password")),
    (METHOD_CLIENT_CREDENTIALS, _l("OAuth 2.0 (client credentials), e.g. Microsoft 365")),
    (METHOD_SERVICE_ACCOUNT, _l("OAuth 2.0 service account, e.g. Google Workspace")),
)
_SMTP_ONLY = {"when": "transport", "when_in": (TRANSPORT_SMTP,)}
_CLIENT_CREDENTIALS = {"when": "authentication_method", "when_in": (METHOD_CLIENT_CREDENTIALS,)}

_DECLARED = (
    Field("transport", _l("Sending method"), CHOICE, choices=TRANSPORT_CHOICES, exastro=False),
    Field(
        "smtp_host",
        _l("SMTP server host"),
        HOST,
        253,
        required=True,
        hint=_l("A host name or an IP address, without smtp:// and without a port."),
        **_SMTP_ONLY,
    ),
    Field(
        "encryption",
        _l("Encryption method"),
        CHOICE,
        required=True,
        choices=ENCRYPTION_CHOICES,
        api_flags=((ENCRYPTION_SSL, "ssl_enable"), (ENCRYPTION_STARTTLS, "start_tls_enable")),
        **_SMTP_ONLY,
    ),
    Field("smtp_port", _l("SMTP server port"), PORT, 5, required=True, **_SMTP_ONLY),
    Field(
        "graph_url",
        _l("Graph URL"),
        URL,
        255,
        default=GRAPH_URL,
        hint=_l("https://graph.microsoft.com, or a national cloud's Graph endpoint."),
        when="transport",
        when_in=(TRANSPORT_GRAPH,),
        exastro=False,
    ),
    Field("authentication_enable", _l("With authentication"), BOOL, controls="auth-rows"),
    Field(
        "authentication_method",
        _l("Authentication method"),
        CHOICE,
        choices=METHOD_CHOICES,
        when="authentication_enable",
        exastro=False,
    ),
    Field(
        "authentication_user",
        _l("Authentication user"),
        TEXT,
        255,
        when="authentication_enable",
        missing=_l("Enter the authentication user."),
        hint=_l("With OAuth 2.0: the mailbox that sends (for a service account, the user it acts as)."),
    ),
    Field(
        "authentication_password",
        _l("Authentication password"),
        SECRET,
        255,
        when="authentication_method",
        when_in=(METHOD_PASSWORD,),
        missing=_l("Enter the authentication password."),
        stored_hint=_l("A password is stored: leave blank to keep the current password."),
        bound_to=("smtp_host", "smtp_port", "authentication_user"),
        retype=_l(
            "The host, port or user changed: type the password again. The stored password is sent only "
            "to the server it was saved for."
        ),
    ),
    Field(
        "oauth2_token_url",
        _l("Token URL"),
        URL,
        1024,
        missing=_l("Enter the token URL."),
        hint=_l("For Microsoft 365: https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token"),
        **_CLIENT_CREDENTIALS,
        exastro=False,
    ),
    Field(
        "oauth2_client_id",
        _l("Client ID"),
        TEXT,
        255,
        missing=_l("Enter the client ID."),
        **_CLIENT_CREDENTIALS,
        exastro=False,
    ),
    Field(
        "oauth2_client_secret",
        _l("Client secret"),
        SECRET,
        1024,
        missing=_l("Enter the client secret."),
        stored_hint=_l("A client secret is stored: leave blank to keep it."),
        bound_to=("oauth2_token_url", "oauth2_client_id"),
        retype=_l(
            "The token URL or client ID changed: type the client secret again. The stored secret is sent "
            "only to the token URL it was saved for."
        ),
        **_CLIENT_CREDENTIALS,
        exastro=False,
    ),
    Field(
        "oauth2_scope",
        _l("Scope"),
        TEXT,
        1024,
        hint=_l(
            "For Microsoft 365 SMTP: https://outlook.office365.com/.default. "
            "Left blank with Microsoft Graph: https://graph.microsoft.com/.default."
        ),
        **_CLIENT_CREDENTIALS,
        exastro=False,
    ),
    Field(
        "oauth2_service_account_key",
        _l("Service account key (JSON)"),
        KEY,
        64 * 1024,
        missing=_l("Paste the service account's JSON key."),
        stored_hint=_l("A service account key is stored: leave blank to keep it."),
        hint=_l("The JSON key file of the service account, as the Google Cloud console downloads it."),
        when="authentication_method",
        when_in=(METHOD_SERVICE_ACCOUNT,),
        exastro=False,
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
EXASTRO_FIELDS = {name: field for name, field in FIELDS.items() if field.api_writable and field.exastro}
SECRET_FIELDS = tuple(field.name for field in _DECLARED if field.write_only)


def used(name: str, values: Mapping) -> bool:
    """Whether the field name is used with these values: its `when` (and that field's, in turn) holds."""
    declared = FIELDS[name]
    if declared.when is None:
        return True
    if not used(declared.when, values):
        return False
    value = values.get(declared.when)
    if not declared.when_in:
        return bool(value)
    if value is None:
        value = FIELDS[declared.when].choices[0][0]  # a choice not given is its default
    return value in declared.when_in


def conditions(name: str) -> list[tuple[str, tuple[str, ...]]]:
    """What must hold for the field to be used, outermost first: (field, its values; () for a flag on)."""
    declared = FIELDS[name]
    if declared.when is None:
        return []
    return [*conditions(declared.when), (declared.when, declared.when_in)]


def stored_values(settings) -> dict:
    """The stored (not write-only) values of saved settings, by field name."""
    return {name: getattr(settings, name) for name in STORED_FIELDS}


def secret_stored(settings, name: str) -> bool:
    """Whether saved settings hold a value for the write-only field name."""
    return bool(settings is not None and getattr(settings, FIELDS[name].column))
