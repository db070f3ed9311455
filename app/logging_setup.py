"""Log lines: one JSON object per line (YIMA_LOG_FORMAT=json) or plain text, each with the request id of
the request it was written during, and nothing secret in them.

Every request gets an id: a sane incoming X-Request-ID (a load balancer's, a client's), else a new one.
It is echoed in the response's X-Request-ID and lands in every log line written while the request runs,
gunicorn's access line included (app/gunicorn_conf.py's logger class reads it off the response).

What must never be logged (codes, tokens, receipts, passwords, keys) is kept out twice: yima's own log
calls do not pass them, and every line is scrubbed on its way out (`redact`), so a message written
elsewhere ("… on /q/<code>") still hides the code.
"""

from __future__ import annotations

import contextvars
import json
import logging
import os
import re
import sys
from datetime import UTC, datetime
from typing import Any

from flask import Flask, Response, g, request

from app.config import Config

REQUEST_ID_HEADER = "X-Request-ID"
_SANE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}")  # fullmatch: ASCII, no spaces, no newlines
request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="")

# A scan page's path names the code: keep the first 4 characters (format version and key id), hide the
# rest. Codes sent bare, key=value or "key": "value" secrets, and Bearer tokens are hidden too.
_SCAN_PATH = re.compile(r"(/[qQ]/[^/?#\s\"']{0,4})[^/?#\s\"']*")
_BARE_CODE = re.compile(r"(?<![A-Za-z0-9])[A-Za-z0-9]{28}(?![A-Za-z0-9])")  # codegen's CODE_LENGTH
_SECRET_FIELD = re.compile(
    r"(?i)(\"?\b(?:code|token|member_token|password|secret|receipts?|authorization|api_key|key)\"?\s*(?:=|:)\s*\"?)"
    r"(?:Bearer\s+)?[^\s\"&,;]+")
_BEARER = re.compile(r"(?i)(bearer\s+)[^\s\"',;]+")
HIDDEN = "[redacted]"


def redact(text: str) -> str:
    text = _SCAN_PATH.sub(r"\1***", text)
    text = _BEARER.sub(r"\1" + HIDDEN, text)
    text = _SECRET_FIELD.sub(r"\1" + HIDDEN, text)
    return _BARE_CODE.sub(HIDDEN, text)


def sane_request_id(value: str | None) -> str | None:
    return value if value and _SANE_ID.fullmatch(value) else None


def new_request_id() -> str:
    return os.urandom(16).hex()


_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}


def _extras(record: logging.LogRecord) -> dict[str, Any]:
    """Fields passed with `extra=`, e.g. the access line's status and duration."""
    return {k: v for k, v in vars(record).items() if k not in _STANDARD and not k.startswith("_")}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": redact(record.getMessage()),
        }
        rid = request_id.get()
        if rid:
            entry["request_id"] = rid
        for key, value in _extras(record).items():
            entry[key] = redact(value) if isinstance(value, str) else value
        if record.exc_info:
            entry["exc"] = redact(self.formatException(record.exc_info))
        if record.stack_info:
            entry["stack"] = redact(self.formatStack(record.stack_info))
        return json.dumps(entry, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s%(rid)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        rid = request_id.get()
        record.rid = f" [{rid}]" if rid else ""
        extras = " ".join(f"{k}={v}" for k, v in _extras(record).items() if k != "rid")
        line = super().format(record) + (f" {extras}" if extras else "")
        return redact(line)


def formatter(cfg: Config) -> logging.Formatter:
    return JsonFormatter() if cfg.log_format == "json" else TextFormatter()


class StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever sys.stderr is at the time (a test's capture, a redirected stream)."""

    def __init__(self) -> None:
        logging.Handler.__init__(self)

    @property
    def stream(self) -> Any:  # type: ignore[override]
        return sys.stderr

    @stream.setter
    def stream(self, _value: Any) -> None:
        pass


def configure(cfg: Config) -> logging.Handler:
    """Send every logger's records to stderr in the configured format (replacing an earlier call's)."""
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "_yima", False)]:
        root.removeHandler(old)
    handler = StderrHandler()
    handler.setFormatter(formatter(cfg))
    handler._yima = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(cfg.log_level)
    return handler


def _begin() -> None:
    rid = sane_request_id(request.headers.get(REQUEST_ID_HEADER)) or new_request_id()
    g.request_id = rid
    g.request_id_token = request_id.set(rid)


def _echo(response: Response) -> Response:
    rid = g.get("request_id")
    if rid:
        response.headers[REQUEST_ID_HEADER] = rid
    return response


def _end(_exc: BaseException | None) -> None:
    token = g.pop("request_id_token", None)
    if token is not None:
        request_id.reset(token)


def init_app(app: Flask) -> None:
    """Request ids on every request. Logging itself is configured by whoever owns the process (gunicorn's
    logger class, `yima worker`); a bare create_app() with no logging set up at all gets it here."""
    if not logging.getLogger().handlers:
        configure(app.config["YIMA"])
    app.before_request(_begin)
    app.after_request(_echo)
    app.teardown_request(_end)
