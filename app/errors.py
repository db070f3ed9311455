"""One JSON error shape for the API and health routes, a friendly page elsewhere; never a traceback."""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, jsonify, render_template, request
from werkzeug.exceptions import HTTPException, InternalServerError


def error_response(status: int, code: str, message: str) -> tuple[Response, int]:
    return jsonify({"error": {"code": code, "message": message}}), status


def _wants_json() -> bool:
    return request.path.startswith(("/api/", "/healthz")) or request.accept_mimetypes.best == "application/json"


def init_app(app: Flask) -> None:
    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Any:
        status = exc.code or 500
        code = (exc.name or "error").lower().replace(" ", "_")
        if _wants_json():
            return error_response(status, code, exc.description or exc.name)
        return render_template("error.html", status=status, title=exc.name, message=exc.description), status

    @app.errorhandler(Exception)
    def unexpected(exc: Exception) -> Any:
        app.logger.exception("unhandled error on %s", request.path)
        return http_error(InternalServerError("Something went wrong on our side; please try again."))
