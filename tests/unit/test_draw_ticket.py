"""Draw tickets: signed, bound to one device and code, short-lived; and their keys share one slot."""

from __future__ import annotations

import dataclasses

import pytest
from redis.crc import key_slot

from rules.draw_ticket import (
    MAX_AGE,
    DrawTicket,
    InvalidTicket,
    device_digest,
    issue_ticket,
    read_ticket,
    ticket_key,
    ticket_keys,
)

KEY = ticket_key(b"s" * 32)
T = DrawTicket(code="C" * 28, batch_id=7, event_id="1800000000000-0", device=device_digest("phone-a"),
               status="first", mine=False, count=1, issued_at=1_800_000_000)


def test_a_ticket_reads_back_for_its_device_within_its_age() -> None:
    token = issue_ticket(KEY, T)
    assert read_ticket(KEY, token, device_id="phone-a", now=T.issued_at + MAX_AGE) == T
    assert "phone-a" not in token  # the cookie itself never travels in the page


@pytest.mark.parametrize(("device", "now", "why"), [
    ("phone-b", T.issued_at, "another device"),
    ("", T.issued_at, "another device"),
    ("phone-a", T.issued_at + MAX_AGE + 1, "expired"),
    ("phone-a", T.issued_at - 10, "expired"),  # from the future: not ours to trust
])
def test_another_device_or_time_is_refused(device: str, now: int, why: str) -> None:
    with pytest.raises(InvalidTicket, match=why):
        read_ticket(KEY, issue_ticket(KEY, T), device_id=device, now=now)


def test_an_altered_or_foreign_ticket_is_refused() -> None:
    token = issue_ticket(KEY, T)
    other = issue_ticket(ticket_key(b"x" * 32), T)
    moved = issue_ticket(KEY, dataclasses.replace(T, code="D" * 28)).split(".")[0] + "." + token.split(".")[1]
    for bad in (other, moved, token + "x", "x.y", "", "no-dot", "a" * 700, None, 5):
        with pytest.raises(InvalidTicket):
            read_ticket(KEY, bad, device_id="phone-a", now=T.issued_at)


def test_a_tickets_keys_share_one_slot() -> None:
    tries, spent = ticket_keys(T)
    assert key_slot(tries.encode()) == key_slot(spent.encode()) == key_slot(b"{dt:7-1800000000000-0}")
