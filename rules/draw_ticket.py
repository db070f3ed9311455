"""Signed draw tickets: a scan's draw held back until the page knows where the phone is.

When a campaign that could match a code needs a region the scan does not have (no location, an IP
region outside it, or a campaign that does not take IP regions), the H5 page records the scan but does
not draw: it hands the phone a ticket and asks for its location. The ticket names the code, the scan
event and a digest of the device cookie, and whether that scan was the code's first; presented back with
a location within `MAX_AGE` seconds from the same device, it draws as that scan would have
(rules/scan.py: `Scanner.draw_located`). It is a MAC over those facts (no server state), so it cannot be
moved to another code, scan or device. Its Redis keys (`{dt:<batch>-<event>}`, owned here) count its
tries and mark it spent once it has drawn, so a ticket cannot draw again in campaigns that allow more
than one draw per code.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass, fields

from rules.errors import Kind, RulesError

MAX_AGE = 1800  # seconds: time enough to read the location prompt, short enough not to be hoarded
MAX_TRIES = 10  # draw requests per ticket (a refused prompt, then a retry or two)
MAC_BYTES = 16
_DOMAIN = b"yima/draw-ticket/v1\n"


class InvalidTicket(RulesError, ValueError):
    """Not a ticket this deployment issued for this code and device, or an expired one."""

    code = "invalid_ticket"
    kind = Kind.INVALID


@dataclass(frozen=True, slots=True)
class DrawTicket:
    code: str
    batch_id: int
    event_id: str  # the scan event whose draw this is
    device: str  # device_digest() of the phone the scan came from
    status: str  # the scan's status: "first" or "repeat"
    mine: bool  # a repeat from the phone that scanned first
    count: int  # the scan's count, to show again
    issued_at: int  # unix seconds
    held: bool = False  # the risk layer held the scan's award: the draw holds it too


_FIELDS = tuple(f.name for f in fields(DrawTicket))


def ticket_key(secret: bytes) -> bytes:
    """The ticket MAC key, derived from an app secret (receipts and member tokens have their own)."""
    return hmac.new(secret, b"yima/draw-ticket-key", hashlib.sha256).digest()


def device_digest(device_id: str) -> str:
    """A device cookie as the ticket holds it (the cookie itself never travels in page content)."""
    return hashlib.sha256(b"yima/draw-ticket-device\n" + device_id.encode()).hexdigest()[:24]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _mac(key: bytes, payload: bytes) -> bytes:
    return hmac.new(key, _DOMAIN + payload, hashlib.sha256).digest()[:MAC_BYTES]


def issue_ticket(key: bytes, ticket: DrawTicket) -> str:
    payload = json.dumps([getattr(ticket, n) for n in _FIELDS], separators=(",", ":")).encode()
    return f"{_b64(payload)}.{_b64(_mac(key, payload))}"


def read_ticket(key: bytes, token: object, *, device_id: str, now: float, max_age: int = MAX_AGE) -> DrawTicket:
    """The ticket's facts if `key` signed it, for this device, within `max_age`; else InvalidTicket."""
    if not isinstance(token, str) or len(token) > 600 or token.count(".") != 1:
        raise InvalidTicket("not a draw ticket")
    body, mac = token.split(".")
    try:
        payload = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        given = base64.urlsafe_b64decode(mac + "=" * (-len(mac) % 4))
    except (ValueError, TypeError):
        raise InvalidTicket("not a draw ticket") from None
    if not hmac.compare_digest(given, _mac(key, payload)):
        raise InvalidTicket("the ticket's signature does not match")
    ticket = DrawTicket(*json.loads(payload))
    if not 0 <= now - ticket.issued_at <= max_age:
        raise InvalidTicket("the ticket has expired: scan the code again")
    if not device_id or not hmac.compare_digest(ticket.device, device_digest(device_id)):
        raise InvalidTicket("the ticket belongs to another device")
    return ticket


def ticket_keys(ticket: DrawTicket) -> tuple[str, str]:
    """(tries, spent): the ticket's counter of draw requests and its spent mark, one hash tag."""
    tag = f"{{dt:{ticket.batch_id}-{ticket.event_id}}}"
    return f"{tag}:tries", f"{tag}:spent"
