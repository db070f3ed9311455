"""Member tokens: who is scanning, in a form the scan path can trust without a lookup.

A brand's membership system (or `POST /api/v1/members/tokens`) issues a short-lived token holding the
member's id, tier, tags and join time, MACed with the member secret. The scan path checks the MAC (CPU
only) and matches campaigns on tier, tags and "new member" with no database or Redis read; a tier change
reaches scans when the member's next token is issued (tokens live a day by default).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import time
from dataclasses import dataclass

from rules.errors import Kind, RulesError

NEW_MEMBER_DAYS = 7  # "new members" campaigns: joined within this many days of the scan
TOKEN_SECONDS = 86_400
_ID = re.compile(r"^[A-Za-z0-9_.:@-]{1,64}$")
_LABEL = re.compile(r"^[\w.-]{1,32}$")


class InvalidMemberToken(RulesError, ValueError):
    """A member token (or a member to issue one for) that is malformed, forged or expired."""

    code = "invalid_member_token"
    kind = Kind.INVALID


@dataclass(frozen=True, slots=True)
class Member:
    member_id: str
    tier: str | None
    tags: frozenset[str]
    joined_at: float

    def is_new(self, now: float) -> bool:
        return now - self.joined_at < NEW_MEMBER_DAYS * 86_400

    @property
    def ref(self) -> str:
        """What events and counters keep: a digest, not the member's id."""
        return hashlib.sha256(b"yima/member/" + self.member_id.encode()).hexdigest()[:32]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def validate_member(member_id: str, tier: str | None, tags: list[str]) -> None:
    if not _ID.match(member_id):
        raise InvalidMemberToken("member_id must be 1-64 letters, digits or _.:@-")
    if tier is not None and not _LABEL.match(tier):
        raise InvalidMemberToken("tier must be 1-32 word characters")
    if len(tags) > 32 or not all(isinstance(t, str) and _LABEL.match(t) for t in tags):
        raise InvalidMemberToken("tags must be at most 32 labels of 1-32 word characters")


def issue_member_token(secret: bytes, member: Member, ttl: int = TOKEN_SECONDS, now: float | None = None) -> str:
    validate_member(member.member_id, member.tier, sorted(member.tags))
    expires = int((time.time() if now is None else now) + ttl)
    body = json.dumps({"m": member.member_id, "t": member.tier, "g": sorted(member.tags),
                       "j": int(member.joined_at), "x": expires}, separators=(",", ":")).encode()
    mac = hmac.digest(secret, b"yima/member-token/v1" + body, "sha256")[:16]
    return f"{_b64(body)}.{_b64(mac)}"


def read_member_token(secret: bytes, token: str, now: float | None = None) -> Member:
    try:
        body_text, mac_text = token.split(".")
        body, mac = _unb64(body_text), _unb64(mac_text)
    except (ValueError, TypeError) as exc:
        raise InvalidMemberToken("malformed member token") from exc
    expected = hmac.digest(secret, b"yima/member-token/v1" + body, "sha256")[:16]
    if not hmac.compare_digest(mac, expected):
        raise InvalidMemberToken("member token signature does not match")
    try:
        doc = json.loads(body)
        member = Member(str(doc["m"]), doc["t"], frozenset(doc["g"]), float(doc["j"]))
        expires = float(doc["x"])
    except (ValueError, KeyError, TypeError) as exc:
        raise InvalidMemberToken("malformed member token") from exc
    if (time.time() if now is None else now) >= expires:
        raise InvalidMemberToken("member token expired")
    return member
