"""Who may open a page of an organization: anonymous users go to its login, others are checked."""

from functools import wraps

from flask import abort, g, request, url_for
from flask_login import current_user

from ..web.htmx import redirect_page


def _to_login():
    # full_path ends in "?" even without a query string.
    target = request.full_path.rstrip("?") if request.method == "GET" else None
    return redirect_page(url_for("auth.login", next=target), code=302)


def is_member() -> bool:
    """Whether the logged-in user belongs to the organization in the URL."""
    return current_user.is_authenticated and current_user.organization_id == g.org.id


def _require(view, *, admin: bool):
    @wraps(view)
    def wrapped(*args, **kwargs):
        if not current_user.is_authenticated:
            return _to_login()
        if not is_member():
            abort(404)
        if admin and not current_user.is_admin:
            abort(403)
        return view(*args, **kwargs)

    return wrapped


def member_required(view):
    """Any user of this organization; another organization's user gets 404."""
    return _require(view, admin=False)


def admin_required(view):
    """An administrator of this organization; a plain user gets 403, another org's user 404."""
    return _require(view, admin=True)
