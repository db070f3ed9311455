"""One JSON error shape for the API and health routes, a friendly page elsewhere; never a traceback."""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, jsonify, render_template, request
from redis.exceptions import RedisError
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException, InternalServerError

# The exception's own headers are kept (Allow on a 405, WWW-Authenticate, Retry-After); these two
# describe the body the exception would have rendered, which is replaced here.
_BODY_HEADERS = frozenset({"content-type", "content-length"})


def error_response(status: int, code: str, message: str) -> tuple[Response, int]:
    return jsonify({"error": {"code": code, "message": message}}), status


def _wants_json() -> bool:
    return request.path.startswith(("/api/", "/healthz")) or request.accept_mimetypes.best == "application/json"


def _page_or_json(status: int, code: str, title: str, message: str) -> Response:
    if _wants_json():
        resp, _ = error_response(status, code, message)
    else:
        resp = Response(render_template("error.html", status=status, title=title, message=message))
    resp.status_code = status
    return resp


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
