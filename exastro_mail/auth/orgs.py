"""Organizations in URLs: every org-scoped blueprint resolves /<org_id>/ the same way."""

import re

from flask import abort, g

from ..models import Organization

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


def scope_to_organization(blueprint) -> None:
    """Make a blueprint under /<org_id> load g.org (404 if unknown) and fill org_id in url_for."""

    @blueprint.url_value_preprocessor
    def _load_org(_endpoint, values):
        org_id = values.pop("org_id", None) if values else None
        if org_id is None:
            return
        organization = Organization.get_or_none(Organization.org_id == org_id)
        if organization is None:
            abort(404)
        g.org = organization

    @blueprint.url_defaults
    def _add_org(endpoint, values):
        if "org_id" not in values and "org" in g:
            values["org_id"] = g.org.org_id
