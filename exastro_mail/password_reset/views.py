"""The forgot-password page of an organization."""

from flask import Blueprint, abort, g, render_template

from ..auth.orgs import scope_to_organization
from ..mailserver.store import settings_for

bp = Blueprint("password_reset", __name__, url_prefix="/<org_id>")
scope_to_organization(bp)


@bp.get("/forgot-password")
def forgot():
    if settings_for(g.org) is None:
        abort(404)
    return render_template("password_reset/unavailable.html")
