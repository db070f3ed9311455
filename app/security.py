"""Headers every response carries, and redirects that never point at a host the client made up.

The pages use no inline script or style (everything comes from /static), so the policy needs no nonces.
HSTS only over HTTPS: `request.is_secure` honours X-Forwarded-Proto when YIMA_TRUSTED_PROXIES is set.
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from flask import Flask, Response, current_app, redirect, request

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; object-src 'none'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    # Scan URLs carry the code: other sites get the origin at most.
    "Referrer-Policy": "strict-origin-when-cross-origin",
}
HSTS = "max-age=31536000"


def safe_location(location: str, base_url: str, also: tuple[str, ...] = ()) -> str:
    """An absolute Location on a host other than the configured base URL's (or one of `also`, the origins the
    app sends phones to on purpose: WeChat's OAuth) becomes relative (path, query, fragment). Werkzeug builds
    the slash-merging and trailing-slash redirects from the request's Host header, which the client chooses:
    `GET /q//abc` with `Host: evil.example` must not send a phone to evil.example."""
    parts = urlsplit(location)
    netloc = parts.netloc.lower()
    if not netloc or netloc == urlsplit(base_url).netloc.lower() or netloc in (urlsplit(a).netloc for a in also):
        return location
    return urlunsplit(("", "", parts.path or "/", parts.query, parts.fragment))


def _secure(resp: Response) -> Response:
    headers = resp.headers
    # One pass over what the view set (werkzeug's Headers.setdefault scans the list once per call).
    present = {name.lower() for name, _value in headers.items()}
    for name, value in HEADERS.items():
        if name.lower() not in present:
            headers.add(name, value)
    if request.is_secure and "strict-transport-security" not in present:
        headers.add("Strict-Transport-Security", HSTS)
    if "location" in present:
        location = safe_location(headers["Location"], current_app.config["YIMA"].base_url,
                                 current_app.extensions.get("yima.redirect_origins", ()))
        if location != headers["Location"]:
            # The body of werkzeug's redirect links to the same made-up host: rebuild it too.
            resp.set_data(redirect(location, resp.status_code).get_data())
            resp.location = location
    return resp


def init_app(app: Flask) -> None:
    app.after_request(_secure)
