"""The API tokens page of an organization's administrators: create (shown once), list, revoke."""

from flask import Blueprint, abort, flash, g, make_response, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from wtforms import StringField

from ..auth.access import admin_required
from ..auth.orgs import scope_to_organization
from ..store.db import db
from ..store.models import ApiToken
from ..web.forms import Form, PostOnlyForm
from ..web.htmx import page_or_fragment
from .showing import hold_for_showing, take_showing
from .tokens import NAME_MAX_LENGTH, issue_token, new_token_name_problem, revoke_token, tokens_of

bp = Blueprint("api_tokens", __name__, url_prefix="/<org_id>/platform/api-tokens")
scope_to_organization(bp)


class TokenForm(Form):
    name = StringField(
        _l("Name"),
        render_kw={"maxlength": NAME_MAX_LENGTH, "required": True, "autocomplete": "off"},
    )


def _page(form, *, shown=None, gone=False, status=200):
    token, secret = shown or (None, None)
    response = make_response(
        render_template(
            "api_tokens/index.html",
            form=form,
            tokens=tokens_of(g.org),
            secret=secret,
            new_token=token,
            shown_already=gone,
            revoke_form=PostOnlyForm(),
        ),
        status,
    )
    if secret:
        response.headers["Cache-Control"] = "no-store"  # the only copy of the token is on this page
    return response


@bp.get("")
@admin_required
def index():
    showing_id = request.args.get("shown")
    shown = take_showing(g.org, current_user.user, showing_id) if showing_id else None
    return _page(TokenForm(formdata=None), shown=shown, gone=bool(showing_id) and shown is None)


@bp.post("")
@admin_required
def create():
    form = TokenForm()  # CSRFProtect has checked the token before this view runs
    name = (form.name.data or "").strip()
    if problem := new_token_name_problem(g.org, name):
        form.name.errors = [problem]
        return _page(form, status=422)
    with db.atomic():
        token, secret = issue_token(g.org, current_user.user, name)
        showing_id = hold_for_showing(token, secret)
    # POST, redirect, GET: a reload of the page that shows the token makes no second one.
    return redirect(url_for(".index", shown=showing_id), code=303)


def _token_or_404(token_id: int) -> ApiToken:
    token = ApiToken.get_or_none(ApiToken.id == token_id, ApiToken.organization == g.org)
    if token is None:
        abort(404)
    return token


@bp.route("/<id:token_id>/revoke", methods=["GET", "POST"])
@admin_required
def revoke(token_id):
    token = _token_or_404(token_id)
    if request.method == "POST":  # CSRFProtect has checked the token before this view runs
        if revoke_token(token, current_user.username):
            flash(
                _("The API token “%(name)s” has been revoked; tools using it are refused.", name=token.name),
                "success",
            )
        return redirect(url_for(".index"), code=303)
    return page_or_fragment(
        "revoke-dialog",
        "api_tokens/revoke.html",
        "api_tokens/_revoke_dialog.html",
        form=PostOnlyForm(),
        token=token,
    )
