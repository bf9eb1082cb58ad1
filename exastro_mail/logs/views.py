"""Delivery log and audit log of an organization."""

from flask import Blueprint

from ..auth.orgs import scope_to_organization

bp = Blueprint("logs", __name__, url_prefix="/<org_id>/platform")
scope_to_organization(bp)
