"""Error pages and JSON errors: clear words, never a stack trace, never a secret."""

from flask import make_response, render_template, request
from flask_babel import lazy_gettext as _l
from flask_wtf.csrf import CSRFError
from peewee import InterfaceError, OperationalError, ProgrammingError
from werkzeug.exceptions import HTTPException

from ..store.failures import missing_table
from .json_envelope import ApiError, failure
from .throttled_log import ThrottledLog

MESSAGES = {
    400: _l("The request could not be understood."),
    401: _l("This page needs credentials that were not given."),
    403: _l("You do not have permission to open this page."),
    404: _l("This page does not exist."),
    405: _l("This action is not allowed here."),
    413: _l("What was sent is too large."),
    429: _l("Too many requests. Please wait a few minutes and try again."),
    500: _l("Something went wrong on our side. Please try again later."),
    503: _l("The service cannot reach its database at the moment. Please try again in a minute."),
}
CSRF_MESSAGE = _l("The form has expired or was not sent by this site. Go back, reload and try again.")


def wants_json() -> bool:
    """Whether the request came to the JSON API."""
    return request.path.startswith("/api/")


def _render(status: int, message, headers=()):
    message = str(message)  # in the language of this request
    if wants_json():
        response = failure(ApiError(status, f"{status:03d}-00000", message))
    else:
        response = make_response(render_template("errors/error.html", status=status, message=message), status)
    for name, value in headers:
        if name.lower() != "content-type":  # e.g. Allow on a 405, Retry-After on a 429
            response.headers[name] = value
    return response


def init_app(app) -> None:
    """Register the error handlers."""

    @app.errorhandler(CSRFError)
    def _csrf(_error):
        return _render(400, CSRF_MESSAGE)

    @app.errorhandler(HTTPException)
    def _http(error):
        return _render(error.code, MESSAGES.get(error.code, error.description), error.get_headers())

    database_log = ThrottledLog(app.logger, app.config["DATABASE_ERROR_LOG_SECONDS"])

    @app.errorhandler(OperationalError)
    @app.errorhandler(InterfaceError)
    @app.errorhandler(ProgrammingError)
    def _database_unavailable(error):
        # The database refused, dropped or did not answer (EXASTRO_MAIL_DATABASE_TIMEOUT), stayed
        # locked past the busy timeout, or has no tables yet.
        if missing_table(error):
            database_log.error(
                "schema",
                "The database has no tables yet (on %s %s: %s): run `exastro-mail init-db` with the same "
                "EXASTRO_MAIL_DATABASE_URL",
                request.method,
                request.path,
                error,
            )
        elif isinstance(error, ProgrammingError):  # a mistake of ours, not an outage
            return _unexpected(error)
        else:
            database_log.error(
                "unavailable", "Database unavailable on %s %s: %s", request.method, request.path, error
            )
        return _render(503, MESSAGES[503], [("Retry-After", "30")])

    @app.errorhandler(Exception)
    def _unexpected(_error):
        app.logger.exception("Unhandled error on %s %s", request.method, request.path)
        return _render(500, MESSAGES[500])
