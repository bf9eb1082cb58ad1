"""The front page, /: the product's name and the way to an organization's login, never a list of
organizations (an anonymous visitor learns only whether there is one, or an ID they typed exists)."""

from flask import Blueprint, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from wtforms import StringField

from ..auth.orgs import ORG_ID_PATTERN
from ..store.models import Organization
from ..web.forms import Form

bp = Blueprint("front", __name__)


class FindOrganizationForm(Form):
    class Meta(Form.Meta):
        csrf = False  # a GET that changes nothing

    organization = StringField(
        _l("Organization ID"),
        render_kw={"autocomplete": "organization", "spellcheck": "false", "autocapitalize": "none"},
    )


def _only_organization() -> Organization | None:
    """The organization when there is exactly one (two rows read at most), else None."""
    first_two = list(
        Organization.select(Organization.org_id, Organization.name).order_by(Organization.id).limit(2)
    )
    return first_two[0] if len(first_two) == 1 else None


@bp.get("/")
def index():
    form = FindOrganizationForm(request.args)
    status = 200
    typed = (form.organization.data or "").strip()
    if typed:
        if ORG_ID_PATTERN.fullmatch(typed) and Organization.get_or_none(Organization.org_id == typed):
            return redirect(url_for("auth.login", org_id=typed), code=303)
        form.organization.errors = [_("No organization has this ID. Check it with your administrator.")]
        status = 404
    elif "organization" in request.args:
        form.organization.errors = [_("Enter your organization's ID.")]
        status = 422
    only = None if form.organization.errors else _only_organization()
    any_organization = only is not None or Organization.select().exists()
    return render_template("front.html", form=form, only=only, any_organization=any_organization), status
