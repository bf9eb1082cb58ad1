"""The API tokens page of an organization's administrators."""

from flask import Blueprint

from ..auth.orgs import scope_to_organization

bp = Blueprint("api_tokens", __name__, url_prefix="/<org_id>/platform/api-tokens")
scope_to_organization(bp)
