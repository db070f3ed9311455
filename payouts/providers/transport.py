"""One HTTP exchange with WeChat (or the fake), on the standard library.

A new connection per call: simple, and a lost reply on one call cannot poison the next. Every transport
failure (refused, reset, timeout, a closed connection with no reply) surfaces as `TransportError`, which the
adapters turn into an UNCLEAR answer.
"""

from __future__ import annotations

import http.client
import ssl
from dataclasses import dataclass
from urllib.parse import urlsplit

from payouts.errors import ProviderUnavailable


class TransportError(ProviderUnavailable):
    """No usable reply: the outcome of the request is unknown (the adapters turn it into an UNCLEAR answer)."""


@dataclass(frozen=True)
class HttpReply:
    status: int
    headers: dict[str, str]  # lower-cased names
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")


def call(url: str, method: str = "GET", body: bytes | None = None, headers: dict[str, str] | None = None,
         timeout_s: float = 5.0, ssl_context: ssl.SSLContext | None = None) -> HttpReply:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise TransportError(f"not an http(s) URL: {parts.scheme}://{parts.hostname}")
    connection: http.client.HTTPConnection
    if parts.scheme == "https":
        connection = http.client.HTTPSConnection(parts.hostname, parts.port, timeout=timeout_s,
                                                 context=ssl_context or ssl.create_default_context())
    else:
        connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout_s)
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    try:
        connection.request(method, target, body=body, headers=headers or {})
        response = connection.getresponse()
        data = response.read()
        return HttpReply(response.status, {k.lower(): v for k, v in response.getheaders()}, data)
    except (OSError, http.client.HTTPException) as exc:  # timeouts are OSError too
        raise TransportError(type(exc).__name__) from exc
    finally:
        connection.close()
