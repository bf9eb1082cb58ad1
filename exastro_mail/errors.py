"""Error pages and JSON errors: clear words, never a stack trace, never a secret."""

from flask import jsonify, render_template, request
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

MESSAGES = {
    400: "The request could not be understood.",
    403: "You do not have permission to open this page.",
    404: "This page does not exist.",
    405: "This action is not allowed here.",
    429: "Too many requests. Please wait a few minutes and try again.",
    500: "Something went wrong on our side. Please try again later.",
}
CSRF_MESSAGE = "The form has expired or was not sent by this site. Go back, reload and try again."


def wants_json() -> bool:
    """Whether the request came to the JSON API."""
    return request.path.startswith("/api/")


def _render(status: int, message: str):
    if wants_json():
        return jsonify(result=f"{status:03d}-00000", message=message, data=None), status
    return render_template("errors/error.html", status=status, message=message), status


def init_app(app) -> None:
    """Register the error handlers."""

    @app.errorhandler(CSRFError)
    def _csrf(_error):
        return _render(400, CSRF_MESSAGE)

    @app.errorhandler(HTTPException)
    def _http(error):
        return _render(error.code, MESSAGES.get(error.code, error.description))

    @app.errorhandler(Exception)
    def _unexpected(error):
        app.logger.exception("Unhandled error on %s %s", request.method, request.path)
        return _render(500, MESSAGES[500])
