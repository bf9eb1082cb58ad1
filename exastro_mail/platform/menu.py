"""The organization's menu, in Exastro's shape: a main menu, the organization's settings grouped, then
the logs. Items we share with Exastro carry its names (platform_web's 000-80001, 000-80054, 000-88002,
000-91002); the page's side menu and the menu page both read MENU."""

from dataclasses import dataclass

from flask import g, request, url_for
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from ..web.login_state import has_login


@dataclass(frozen=True)
class Item:
    """One link of the menu: its endpoint and name, and whether only administrators see it."""

    endpoint: str
    label: object
    admin: bool = True


@dataclass(frozen=True)
class Group:
    """Items under one heading (label None: items at the top level)."""

    label: object
    items: tuple[Item, ...]


MENU = (
    Group(None, (Item("platform.index", _l("Main menu"), admin=False),)),
    Group(_l("Organization settings"), (Item("mailserver.settings", _l("Mail sending server settings")),)),
    Group(
        None,
        (
            Item("logs.audit_log", _l("Audit log")),
            Item("logs.mail_log", _l("Delivery log")),
            Item("api_tokens.index", _l("API tokens")),
        ),
    ),
)


@dataclass(frozen=True)
class ShownItem:
    """An item as a page shows it: its URL, and whether it is the page being shown."""

    url: str
    label: object
    current: bool


def menu_for_request(*, side: bool = False) -> list[tuple[object, list[ShownItem]]]:
    """The groups the logged-in member of g.org may open (empty for anyone else). The side menu is left
    off the menu page, which is the same menu."""
    org = g.get("org")
    if org is None or not has_login() or not current_user.is_authenticated:
        return []
    if current_user.organization_id != org.id:
        return []
    if side and request.endpoint == "platform.index":
        return []
    shown = []
    here = request.endpoint
    for group in MENU:
        items = [
            ShownItem(url_for(item.endpoint, org_id=org.org_id), item.label, here == item.endpoint)
            for item in group.items
            if current_user.is_admin or not item.admin
        ]
        if items:
            shown.append((group.label, items))
    return shown
