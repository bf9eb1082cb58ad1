"""The settings page's sections: which declared fields each one holds, in the order they are declared,
and whether each input is marked required or optional."""

from flask_babel import lazy_gettext as _l

from .fields import BOOL, CHOICE, FIELDS, KEY, PEM, SECRET, Field

SECTIONS = (
    ("server", _l("Server"), ("transport", "smtp_host", "encryption", "smtp_port", "graph_url")),
    (
        "authentication",
        _l("Authentication"),
        (
            "authentication_enable",
            "authentication_method",
            "authentication_user",
            "authentication_password",
            "oauth2_token_url",
            "oauth2_client_id",
            "oauth2_client_secret",
            "oauth2_scope",
            "oauth2_service_account_key",
        ),
    ),
    ("sender", _l("Sender"), ("send_from", "send_name", "reply_to", "reply_name")),
    ("advanced", _l("Advanced"), ("envelope_from", "trusted_ca_pem")),
)
# The kinds of field whose row checks itself when it loses focus (not secrets, nor large pastes).
CHECKED_INLINE = frozenset(FIELDS) - {
    name for name, declared in FIELDS.items() if declared.kind in (SECRET, KEY, PEM, BOOL, CHOICE)
}


def rows_id(declared: Field) -> str | None:
    """The HTML id of the rows shown only while the field's `when` holds (None: always shown)."""
    if declared.when is None:
        return None
    if not declared.when_in:
        return FIELDS[declared.when].controls
    return "-".join((declared.when, *declared.when_in, "rows")).replace("_", "-")


def runs_of_rows(names=tuple(FIELDS)) -> list[tuple[str | None, list[Field]]]:
    """The named fields (all, by default) in order, in runs shown under one condition: (the rows' id,
    or None; the fields)."""
    runs: list[tuple[str | None, list[Field]]] = []
    for name in names:
        declared = FIELDS[name]
        run_id = rows_id(declared)
        if runs and runs[-1][0] == run_id:
            runs[-1][1].append(declared)
        else:
            runs.append((run_id, [declared]))
    return runs


def marker(declared: Field, stored: bool) -> str | None:
    """ "required", "optional", or None (checkboxes and choices, which always hold a value); a
    write-only value already stored may be left blank."""
    if declared.kind in (BOOL, CHOICE):
        return None
    if (declared.required or declared.missing) and not (declared.write_only and stored):
        return "required"
    return "optional"
