"""The organization's menu page, /<org>/platform/, and the side menu every page of it shows."""

from flask import Blueprint, render_template

from ..auth.access import member_required
from ..auth.orgs import scope_to_organization
from .menu import menu_for_request

bp = Blueprint("platform", __name__, url_prefix="/<org_id>/platform")
scope_to_organization(bp)


@bp.app_context_processor
def side_menu():
    """The menu for base.html (computed only when a template asks for it)."""
    return {"platform_menu": lambda: menu_for_request(side=True)}


@bp.get("/")
@member_required
def index():
    return render_template("platform/index.html", groups=menu_for_request())
