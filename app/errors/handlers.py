"""The one place that maps domain errors and HTTP errors to a page, an htmx toast, or JSON in
OpenAI's shape for the API under /api/."""
from __future__ import annotations

from flask import Flask, jsonify, make_response, render_template, request
from flask_limiter import RateLimitExceeded
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from werkzeug.exceptions import HTTPException

from app.core.pages import toast_headers
from app.errors import DomainError, is_database_busy, refusal_headers
from app.extensions import db
from app.security.rate_limits import as_limit_reached

TITLES = {
    400: "Bad request",
    403: "Not allowed",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Too large",
    422: "Invalid input",
    429: "Too many requests",
    500: "Something went wrong",
    503: "Busy",
}

DEFAULT_MESSAGES = {
    400: "The request could not be understood.",
    403: "Your role does not give access to this page.",
    404: "There is nothing here, or it is not yours to see.",
    405: "This address does not accept that kind of request.",
    413: "What you sent is larger than this server accepts.",
    429: "Too many requests. Wait a little and try again.",
    500: "The server hit an error. Nothing you typed was lost on our side; try again.",
    503: "Studio is busy, try again in a moment.",
}

BUSY_RETRY_AFTER_SECONDS = 2


# OpenAI's error shape for /api/: status → (type, code).
API_ERRORS = {
    400: ("invalid_request_error", "invalid_request"),
    401: ("invalid_request_error", "invalid_api_key"),
    403: ("permission_error", "forbidden"),
    404: ("invalid_request_error", "not_found"),
    405: ("invalid_request_error", "method_not_allowed"),
    409: ("invalid_request_error", "conflict"),
    413: ("invalid_request_error", "too_large"),
    422: ("invalid_request_error", "invalid_value"),
    429: ("rate_limit_error", "rate_limit_exceeded"),
    500: ("server_error", "internal_error"),
    502: ("server_error", "model_error"),
    503: ("server_error", "busy"),
}


def is_api_request() -> bool:
    return request.path == "/api" or request.path.startswith("/api/")


def api_error_response(status: int, message: str, headers: dict[str, str], code: str | None = None):
    """An error as OpenAI's JSON: {"error": {"message", "type", "code"}}."""
    error_type, default_code = API_ERRORS.get(status, ("invalid_request_error" if status < 500 else "server_error",
                                                       None))
    if status == 401:
        headers = {**headers, "WWW-Authenticate": 'Bearer realm="Studio API"'}
    body = {"error": {"message": message, "type": error_type, "param": None, "code": code or default_code}}
    return jsonify(body), status, headers


def error_response(status: int, message: str | None = None, headers: dict[str, str] | None = None,
                   code: str | None = None):
    """Answer an error as JSON under /api/, a toast for htmx, or a full page (with `headers`)."""
    title = TITLES.get(status, "Error")
    message = message or DEFAULT_MESSAGES.get(status, title)
    headers = dict(headers or {})
    if is_api_request():
        return api_error_response(status, message, headers, code)
    if request.htmx:
        # htmx (boosted links too) does not swap error bodies; the toast carries the message instead.
        return "", status, {**headers, **toast_headers(message, level="error")}
    return render_template("errors/error.html", status=status, title=title, message=message), status, headers


def register_error_handlers(app: Flask) -> None:
    """Install one handler per error kind."""

    @app.errorhandler(DomainError)
    def handle_domain_error(error: DomainError):
        return error_response(error.status, error.message or None, refusal_headers(error),
                              code=getattr(error, "api_code", None))

    @app.errorhandler(RateLimitExceeded)
    def handle_rate_limited(error: RateLimitExceeded):
        return handle_domain_error(as_limit_reached(error))

    @app.errorhandler(CSRFError)
    def handle_csrf_error(error: CSRFError):
        return error_response(
            400, "Your form expired or was not sent from this site. Reload the page and try again."
        )

    @app.errorhandler(HTTPException)
    def handle_http_error(error: HTTPException):
        status = error.code or 500
        message = None if status in DEFAULT_MESSAGES else error.description
        return error_response(status, message)

    @app.errorhandler(OperationalError)
    def handle_database_error(error: OperationalError):
        if not is_database_busy(error):
            return handle_unexpected_error(error)
        db.session.rollback()
        app.logger.warning("database busy on %s %s: %s", request.method, request.path, error.orig)
        response = make_response(error_response(503))
        response.headers["Retry-After"] = str(BUSY_RETRY_AFTER_SECONDS)
        return response

    @app.errorhandler(PoolTimeout)
    def handle_pool_exhausted(error: PoolTimeout):
        """Every database connection of this process is in use for longer than the pool waits: the
        server is overloaded, not broken. 503 with Retry-After, like a locked database."""
        db.session.rollback()
        app.logger.warning("no database connection free on %s %s: %s", request.method, request.path, error)
        response = make_response(error_response(503))
        response.headers["Retry-After"] = str(BUSY_RETRY_AFTER_SECONDS)
        return response

    @app.errorhandler(Exception)
    def handle_unexpected_error(error: Exception):
        db.session.rollback()
        app.logger.exception("unhandled error on %s %s", request.method, request.path)
        return error_response(500)
