"""JSON endpoints under /api/<org_id>/platform/."""

from flask import Blueprint

bp = Blueprint("api", __name__, url_prefix="/api/<org_id>/platform")
