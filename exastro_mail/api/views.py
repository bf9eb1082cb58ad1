"""JSON endpoints under /api/<org_id>/platform/: every one needs an administrator's credentials."""

from flask import Blueprint, current_app, g, request
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from werkzeug.exceptions import HTTPException

from ..auth.orgs import scope_to_organization
from ..mailserver.endpoint import host_policy
from ..mailserver.store import delete_settings, save_settings, settings_for
from ..web.json_envelope import (
    BODY_TOO_LARGE,
    IDEMPOTENCY_KEY_REUSED,
    INVALID_FIELDS,
    INVALID_HEADER,
    NO_MAIL_SERVER,
    NOT_FOUND,
    NOTIFICATION_NOT_FOUND,
    TOO_MANY_FAILED_LOGINS,
    ApiError,
    failure,
    read_json_object,
    success,
)
from ..web.rate_limits import API_AUTHENTICATION
from .credentials import authenticate
from .notifications import (
    IdempotencyKeyReused,
    NoMailServer,
    check_notification,
    find_notification,
    idempotency_key_problem,
    notification_json,
    queue_notification,
)
from .results import first_problem, summary
from .settings import check_api_settings, settings_json

bp = Blueprint("api", __name__, url_prefix="/api/<org_id>/platform")
scope_to_organization(bp)

# A 1 MiB message can take up to six times that once JSON-escaped.
MAX_BODY_BYTES = 8 * 1024 * 1024
TOO_MANY_FAILURES = _l("Too many failed authentications from this address. Wait a few minutes and try again.")


@bp.before_request
def _refuse_after_too_many_failures():
    API_AUTHENTICATION.refuse_if_over()


@bp.after_request
def _count_failures(response):
    # Whatever stopped a caller before authentication counts: wrong credentials (401), another
    # organization's (404), an unknown organization (404), a user who is not an administrator (403).
    if "caller" not in g and response.status_code in (401, 403, 404):
        API_AUTHENTICATION.count()
    response.vary.update(("Language", "Accept-Language"))  # the two headers that choose its language
    return response


@bp.before_request
def _authenticate():
    """Every call needs an administrator of g.org (set by scope_to_organization): g.caller."""
    request.max_content_length = MAX_BODY_BYTES
    g.caller = authenticate(g.org, request.authorization)


@bp.errorhandler(ApiError)
def _api_error(error):
    return failure(error)


@bp.errorhandler(HTTPException)
def _http_error(error):
    special = {404: NOT_FOUND, 413: BODY_TOO_LARGE, 429: TOO_MANY_FAILED_LOGINS}
    result = special.get(error.code, f"{error.code:03d}-00000")
    message = {
        404: _("This organization or resource does not exist."),
        413: _("The request body is larger than %(size)d MiB.", size=MAX_BODY_BYTES // (1024 * 1024)),
        429: str(TOO_MANY_FAILURES),
    }.get(error.code, error.description)
    return failure(ApiError(error.code, result, message))


@bp.get("/settings/mailserver")
def mailserver_settings():
    return success(settings_json(settings_for(g.org)))


@bp.post("/settings/mailserver")
def save_mailserver_settings():
    body = read_json_object()
    stored = settings_for(g.org)
    checked = check_api_settings(body, stored, host_policy=host_policy(current_app.config))
    if not checked.ok:
        # Exastro's answer for the first field at fault; errors names every field, ours beyond Exastro.
        key, problem = first_problem(checked.problems)
        raise ApiError(400, problem.code, summary(key, problem), checked.errors)
    settings, _created, _changed = save_settings(g.org, checked.values, g.caller.actor)
    extra = {"warnings": checked.warnings} if checked.warnings else {}
    return success(settings_json(settings), **extra)


@bp.delete("/settings/mailserver")
def delete_mailserver_settings():
    delete_settings(g.org, g.caller.actor)
    return success(None)


@bp.post("/notifications")
def send_notification():
    key = request.headers.get("Idempotency-Key")
    if key is not None and (problem := idempotency_key_problem(key)):
        raise ApiError(
            400, INVALID_HEADER, _("The Idempotency-Key header is not valid."), {"Idempotency-Key": problem}
        )
    values, errors = check_notification(read_json_object())
    if errors:
        raise ApiError(400, INVALID_FIELDS, _("Some fields are not valid; nothing was queued."), errors)
    try:
        message, queued_now = queue_notification(g.org, values, key, g.caller.actor)
    except NoMailServer:
        raise ApiError(
            409,
            NO_MAIL_SERVER,
            _(
                "This organization has no mail sending server settings, so nothing can be sent; "
                "nothing was queued. Register them first (POST settings/mailserver)."
            ),
        ) from None
    except IdempotencyKeyReused:
        raise ApiError(
            422,
            IDEMPOTENCY_KEY_REUSED,
            _(
                "This Idempotency-Key was already used for a different notification; "
                "use a new key for a new notification."
            ),
            {"Idempotency-Key": _("Already used with a different request body.")},
        ) from None
    return success(notification_json(message), status=202 if queued_now else 200)


@bp.get("/notifications/<notification_id>")
def notification_status(notification_id):
    message = find_notification(g.org, notification_id)
    if message is None:
        raise ApiError(
            404, NOTIFICATION_NOT_FOUND, _("There is no notification with this id in this organization.")
        )
    return success(notification_json(message))
