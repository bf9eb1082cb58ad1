"""The first login with a password someone else made (quickstart's generated one): nothing else opens
until the account has chosen its own."""

from flask import request, url_for
from flask_login import current_user

from ..web.htmx import redirect_page
from ..web.login_state import has_login

# The page that asks for the new password (account/ registers it), and what stays open meanwhile.
CHANGE_PASSWORD_ENDPOINT = "account.password"  # noqa: S105  # nosec B105  # an endpoint name
_OPEN_ENDPOINTS = frozenset({CHANGE_PASSWORD_ENDPOINT, "auth.logout", "auth.login", "i18n.choose", "static"})


def change_password_url(next_path: str | None = None) -> str:
    """Where a login that must choose its own password goes, then on to next_path."""
    org_id = current_user.organization.org_id
    return url_for(CHANGE_PASSWORD_ENDPOINT, org_id=org_id, next=next_path or None)


def _must_change_first():
    if not has_login() or request.path.startswith("/api/") or request.endpoint in _OPEN_ENDPOINTS:
        return None
    if not (current_user.is_authenticated and current_user.must_change_password):
        return None
    target = request.full_path.rstrip("?") if request.method == "GET" else None
    return redirect_page(change_password_url(target), code=303)


def init_app(app) -> None:
    """Send a login that must change its password to the page that changes it, from every other page."""
    app.before_request(_must_change_first)
