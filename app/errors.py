"""Errors as answers: one JSON error shape for the API and health routes, a friendly page elsewhere; never a
traceback.

Domain errors (`codegen.errors.DomainError`: each domain package's errors, and the web layer's own
`RequestError`) carry a machine `code` and the `kind` of failure; `STATUS` below is the one place a kind
becomes an HTTP status. Each blueprint registers the mapping once, as JSON (`json_errors(bp)`: the error
shape `{"error": {"code", "message", ...details}}`) or as a page (`page_errors(bp)`). The app-wide handlers
in `init_app` answer the rest: HTTP errors (404, 405, an `abort`), Redis or the database down (503), a bug
(500, logged), and a domain error that reached no blueprint's handler.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, Response, current_app, jsonify, render_template, request
from redis.exceptions import RedisError
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException, InternalServerError
from werkzeug.http import HTTP_STATUS_CODES

from codegen.errors import DomainError, Kind

STATUS: dict[Kind, int] = {
    Kind.INVALID: 400,
    Kind.FORBIDDEN: 403,
    Kind.NOT_FOUND: 404,
    Kind.CONFLICT: 409,
    Kind.INCONSISTENT: 422,
    Kind.THROTTLED: 429,
    Kind.UNAVAILABLE: 503,
}

# The exception's own headers are kept (Allow on a 405, WWW-Authenticate, Retry-After); these two
# describe the body the exception would have rendered, which is replaced here.
_BODY_HEADERS = frozenset({"content-type", "content-length"})


class RequestError(DomainError):
    """A request the web layer refuses before any domain function runs (a malformed body, an unknown
    filter). It speaks the domain errors' protocol (`code`, `kind`, `details`), so the same handler answers it."""


def error_response(status: int, code: str, message: str, **details: Any) -> tuple[Response, int]:
    return jsonify({"error": {"code": code, "message": message, **details}}), status


def _wants_json() -> bool:
    return request.path.startswith(("/api/", "/healthz")) or request.accept_mimetypes.best == "application/json"


def _page(status: int, title: str, message: str) -> Response:
    resp = Response(render_template("error.html", status=status, title=title, message=message))
    resp.status_code = status
    return resp


def _page_or_json(status: int, code: str, title: str, message: str) -> Response:
    if _wants_json():
        resp, _ = error_response(status, code, message)
        resp.status_code = status
        return resp
    return _page(status, title, message)


def _answer(exc: DomainError, as_json: bool) -> Response:
    status = STATUS[exc.kind]
    if exc.kind is Kind.UNAVAILABLE:  # the reason (a missing key file, say) is for the operator's log only
        current_app.logger.warning("unavailable on %s: %s", request.path, exc)
    if as_json:
        resp, _ = error_response(status, exc.code, exc.public_message(), **exc.details())
        resp.status_code = status
    else:
        resp = _page(status, HTTP_STATUS_CODES.get(status, "Error"), exc.public_message())
    if exc.retry_after is not None:
        resp.headers["Retry-After"] = str(exc.retry_after)
    return resp


def json_answer(exc: DomainError) -> Response:
    """The JSON error shape for a domain error, with the status its kind maps to."""
    return _answer(exc, as_json=True)


def page_answer(exc: DomainError) -> Response:
    """The error page for a domain error, with the status its kind maps to."""
    return _answer(exc, as_json=False)


def json_errors(bp: Blueprint) -> None:
    """A JSON API blueprint: every domain error it lets through is answered in the JSON error shape."""
    bp.register_error_handler(DomainError, json_answer)


def page_errors(bp: Blueprint) -> None:
    """A blueprint of pages: every domain error it lets through is answered with the error page."""
    bp.register_error_handler(DomainError, page_answer)


def init_app(app: Flask) -> None:
    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Any:
        status = exc.code or 500
        code = (exc.name or "error").lower().replace(" ", "_")
        resp = _page_or_json(status, code, exc.name, exc.description or exc.name)
        for name, value in exc.get_headers():
            if name.lower() not in _BODY_HEADERS:
                resp.headers.add(name, value)
        return resp

    @app.errorhandler(DomainError)
    def domain_error(exc: DomainError) -> Any:  # from a route of no blueprint, or one that registered none
        return _answer(exc, as_json=_wants_json())

    # A dependency that is down is the operator's 503 ("retry shortly"), on every route, like scans.
    @app.errorhandler(RedisError)
    def redis_down(exc: RedisError) -> Any:
        app.logger.warning("Redis unavailable on %s: %s", request.path, exc.__class__.__name__)
        return _page_or_json(503, "unavailable", "Service unavailable",
                             "Redis is not reachable right now; retry shortly.")

    @app.errorhandler(OperationalError)
    def database_down(exc: OperationalError) -> Any:
        app.logger.warning("database unavailable on %s: %s", request.path, exc.orig.__class__.__name__)
        return _page_or_json(503, "unavailable", "Service unavailable",
                             "The database is not reachable right now; retry shortly.")

    @app.errorhandler(Exception)
    def unexpected(exc: Exception) -> Any:
        app.logger.exception("unhandled error on %s", request.path)
        return http_error(InternalServerError("Something went wrong on our side; please try again."))
