"""gunicorn's logger in yima's shape: its own lines and the access lines in YIMA_LOG_FORMAT, each access line
with the request's id, its path with a scan code hidden, and no query string (a view token carries the
code), no Referer (a scan page's URL) and no header values."""

from __future__ import annotations

from typing import Any

from gunicorn.glogging import Logger

from app.config import load_config
from app.logging_setup import REQUEST_ID_HEADER, configure, formatter, redact, sane_request_id

MAX_AGENT = 200


def access_fields(resp: Any, req: Any, environ: dict[str, Any], request_time: Any) -> dict[str, Any]:
    rid = next((value for name, value in resp.headers if name.lower() == REQUEST_ID_HEADER.lower()), None)
    rid = rid or sane_request_id(environ.get("HTTP_X_REQUEST_ID")) or "-"
    return {
        "request_id": rid,
        "remote_addr": environ.get("REMOTE_ADDR", "-"),
        "method": environ.get("REQUEST_METHOD", "-"),
        "path": redact(environ.get("PATH_INFO", "-")),
        "status": resp.status_code,
        "bytes": getattr(resp, "sent", 0),
        "duration_ms": round(request_time.total_seconds() * 1000, 2),
        "user_agent": environ.get("HTTP_USER_AGENT", "-")[:MAX_AGENT],
    }


class YimaLogger(Logger):
    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        yima = load_config()
        fmt = formatter(yima)
        for log in (self.error_log, self.access_log):
            for handler in log.handlers:
                handler.setFormatter(fmt)
        # The root logger too: the app's own lines, in the workers forked from here, share the format.
        configure(yima)

    def access(self, resp: Any, req: Any, environ: dict[str, Any], request_time: Any) -> None:
        if not self.access_log_enabled:
            return
        fields = access_fields(resp, req, environ, request_time)
        try:
            # The request has ended: its id comes with the fields, not from the request's context.
            self.access_log.info("%s %s %s", fields["method"], fields["path"], fields["status"], extra=fields)
        except Exception:
            self.access_log.exception("access line failed")

