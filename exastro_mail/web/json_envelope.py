"""The API's JSON envelope, its result codes, and reading a JSON object from a request body.

Result codes are "<HTTP status>-<reason>": "000-00000" is success; "<status>-00000" is a generic
error of that HTTP status; the other reasons are listed below and in docs/api.md. The settings' checks
answer Exastro's own code for each rule (common_library/common/validation.py in exastro-platform), so
a client that branches on `result` cannot tell the two apart.
"""

import json
import re
from datetime import UTC, datetime

from flask import jsonify, request
from flask_babel import gettext as _

SUCCESS = "000-00000"
INVALID_FIELDS = "400-00001"
UNREADABLE_BODY = "400-00002"  # also a field of the wrong JSON type, as Exastro's "invalid parameter"
INVALID_HEADER = "400-00003"
# Exastro's codes for the rules of a field, as its validation answers them.
REQUIRED = "400-00011"
TOO_LONG = "400-00012"
FORBIDDEN_CHARACTERS = "400-00013"
NOT_A_MAIL_ADDRESS = "400-00023"
NOT_TRUE_OR_FALSE = "400-00024"
NOT_A_URL = "400-00027"
NOT_A_HOST = "400-00028"
NOT_A_NUMBER = "400-00029"
OUT_OF_RANGE = "400-00030"
BOTH_ENCRYPTIONS = "400-00031"
AUTHENTICATION_INCOMPLETE = "400-00032"
NOT_A_CHOICE = "400-00037"
NOT_AUTHENTICATED = "401-00002"  # as Exastro's platform_auth answers every failed authentication
NOT_ADMIN = "403-00001"
NOT_FOUND = "404-00001"
NOTIFICATION_NOT_FOUND = "404-00002"
NO_MAIL_SERVER = "409-00001"
BODY_TOO_LARGE = "413-00001"
IDEMPOTENCY_KEY_REUSED = "422-00001"
TOO_MANY_FAILED_LOGINS = "429-00001"

_SURROGATE = re.compile("[\ud800-\udfff]")


class ApiError(Exception):
    """An answer other than success: HTTP status, result code, message and the fields at fault."""

    def __init__(self, status: int, result: str, message: str, errors=None, headers=None):
        super().__init__(message)
        self.status = status
        self.result = result
        self.message = message
        self.errors = errors or {}
        self.headers = headers or {}


def timestamp(moment: datetime | None) -> str | None:
    """ISO 8601 in UTC with milliseconds and a Z, as Exastro writes it; naive times are UTC."""
    if moment is None:
        return None
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment.isoformat(timespec="milliseconds") + "Z"


def success(data, status: int = 200, **extra):
    """A success envelope."""
    body = {"result": SUCCESS, "message": "SUCCESS", "data": data, **extra}
    body["ts"] = timestamp(datetime.now(UTC))
    return jsonify(body), status


def failure(error: ApiError):
    """An error envelope: non-zero result, message, the fields at fault, no data."""
    body = {
        "result": error.result,
        "message": error.message,
        "data": None,
        "errors": error.errors,
        "ts": timestamp(datetime.now(UTC)),
    }
    response = jsonify(body)
    response.status_code = error.status
    for name, value in error.headers.items():
        if isinstance(value, list | tuple):
            for item in value:
                response.headers.add(name, item)
        else:
            response.headers[name] = value
    return response


def _reject_constant(name):
    raise ValueError(f"{name} is not a JSON number")


def read_json_object() -> dict:
    """The request body as a JSON object; ApiError(400) says what is wrong with it otherwise."""
    mimetype = request.mimetype
    if mimetype != "application/json" and not mimetype.endswith("+json"):
        if mimetype:
            message = _(
                "Send the body as JSON with the header Content-Type: application/json "
                "(this request said %(mimetype)s).",
                mimetype=mimetype,
            )
        else:
            message = _(
                "Send the body as JSON with the header Content-Type: application/json "
                "(this request had none)."
            )
        raise ApiError(400, UNREADABLE_BODY, message, errors={"Content-Type": _("Use application/json.")})
    raw = request.get_data(cache=False)  # raises 413 past the request's max_content_length
    try:
        body = json.loads(raw, parse_constant=_reject_constant)
    except RecursionError:
        raise ApiError(400, UNREADABLE_BODY, _("The JSON body is nested too deeply.")) from None
    except ValueError as error:
        raise ApiError(
            400, UNREADABLE_BODY, _("The body is not valid JSON: %(error)s.", error=error)
        ) from None
    if not isinstance(body, dict):
        raise ApiError(
            400,
            UNREADABLE_BODY,
            _("The body must be a JSON object ({...}), not %(type)s.", type=_json_type(body)),
        )
    unreadable = [name for name, value in body.items() if _has_surrogate(name) or _has_surrogate(value)]
    if unreadable:
        problems = {name: _("Contains text that is not valid Unicode.") for name in unreadable}
        raise ApiError(400, UNREADABLE_BODY, _("Some fields are not valid."), errors=problems)
    return body


def _json_type(value) -> str:
    if isinstance(value, list):
        return _("an array")
    if isinstance(value, str):
        return _("a string")
    if isinstance(value, bool):
        return _("a boolean")
    if value is None:
        return "null"
    return _("a number")


def _has_surrogate(value) -> bool:
    """Whether a decoded JSON value holds a lone surrogate (valid JSON, but not encodable text)."""
    pending = [value]
    while pending:  # a loop, not recursion: the depth is whatever the client sent
        item = pending.pop()
        if isinstance(item, str):
            if _SURROGATE.search(item):
                return True
        elif isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return False
