"""Organizations in URLs: every org-scoped blueprint resolves /<org_id>/ the same way."""

import functools
import re

from flask import abort, g
from peewee import JOIN

from ..store.db import db
from ..store.models import MailServerSettings, Organization

ORG_ID_PATTERN = re.compile(r"[a-z][a-z0-9_-]{0,35}")
# First path segments the app itself uses: an organization cannot be named after one.
RESERVED_ORG_IDS = frozenset({"api", "static", "healthz", "language", "favicon.ico", "robots.txt"})


def org_id_problem(org_id: str) -> str | None:
    """Why an organization id is not acceptable, or None when it is."""
    if not ORG_ID_PATTERN.fullmatch(org_id):
        return (
            "An organization ID starts with a lowercase letter, followed by lowercase letters, "
            "digits, '-' or '_', at most 36 characters in all."
        )
    if org_id in RESERVED_ORG_IDS:
        return f"'{org_id}' is reserved by the application."
    return None


_COLUMNS = Organization._meta.sorted_fields


def find_organization(org_id: str) -> Organization | None:
    """The organization with this id, with .mail_from: its settings' From address, None without
    settings. One indexed query on every page of an organization, so it is kept lean: its SQL text is
    built once, and the row becomes a model without peewee's per-query cursor wrapper."""
    database = db.obj
    row = database.execute_sql(_find_organization_sql(database), (org_id,)).fetchone()
    if row is None:
        return None
    *columns, mail_from = row
    organization = Organization(
        **{field.name: field.python_value(value) for field, value in zip(_COLUMNS, columns, strict=True)}
    )
    organization.mail_from = mail_from
    return organization


@functools.lru_cache(maxsize=16)
def _find_organization_sql(database) -> str:
    # peewee turns query objects into SQL in Python, which takes longer than the database takes to
    # answer this lookup; the text differs between engines only (quoting, placeholders).
    query = (
        Organization.select(*_COLUMNS, MailServerSettings.send_from.alias("mail_from"))
        .join(MailServerSettings, JOIN.LEFT_OUTER, on=(MailServerSettings.organization == Organization.id))
        .where(Organization.org_id == "")
    )
    sql, _params = database.get_sql_context().sql(query).query()
    return sql


def scope_to_organization(blueprint) -> None:
    """Make a blueprint under /<org_id> load g.org (404 if unknown) and fill org_id in url_for."""

    @blueprint.url_value_preprocessor
    def _load_org(_endpoint, values):
        org_id = values.pop("org_id", None) if values else None
        if org_id is None:
            return
        organization = find_organization(org_id)
        if organization is None:
            abort(404)
        g.org = organization

    @blueprint.url_defaults
    def _add_org(endpoint, values):
        if "org_id" not in values and "org" in g:
            values["org_id"] = g.org.org_id
