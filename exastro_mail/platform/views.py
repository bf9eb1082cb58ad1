"""The organization's menu page, /<org>/platform/."""

from flask import Blueprint, render_template

from ..auth.access import member_required
from ..auth.orgs import scope_to_organization

bp = Blueprint("platform", __name__, url_prefix="/<org_id>/platform")
scope_to_organization(bp)


@bp.get("/")
@member_required
def index():
    return render_template("platform/index.html")
