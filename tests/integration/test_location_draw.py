"""Location before the draw, on a real Redis: a scan that a region-limited campaign could take is recorded
but not drawn; its draw ticket draws once, for its own device, where the location puts it in the region."""

from __future__ import annotations

from typing import Any

import pytest
import redis

from codegen.batch_state import events_key, write_batch_state
from codegen.codeformat import Role, encode
from codegen.keys import Keyring
from rules.campaign import CompiledCampaign, compile_campaign, parse_definition
from rules.draw import ALREADY_DRAWN, FIRST_SCAN_USED, TAKEN, open_counters
from rules.draw_ticket import InvalidTicket, ticket_key
from rules.ipregion import default_ip_index
from rules.matcher import Matcher
from rules.receipts import receipt_key
from rules.region import default_index
from rules.scan import FIRST, REPEAT, Scanner, ScanRequest, ScanResult

RING = Keyring(current=1, keys={1: bytes(range(32))})
BATCH = 43
META = {"key_id": 1, "brand": "acme", "sku": "BEER-500", "product": "Lager", "gtin": "", "lot": "L1",
        "factory": "F", "line": "1", "production_date": "2026-11-20", "quantity": 1000, "pack": 24,
        "status": "active", "brand_id": 1, "product_id": 1}
GUANGZHOU_IP, CHENGDU_IP = "202.96.128.86", "61.139.2.69"
SHENZHEN = (22.54, 114.06)
NOW = 1_800_000_000


def code(serial: int) -> str:
    return encode(RING.batch_key(1, BATCH), role=Role.INNER, key_id=1, batch_id=BATCH, serial=serial)


def campaign(cid: int = 1, **over: Any) -> CompiledCampaign:
    doc: dict[str, Any] = {
        "name": "广东首扫", "brand": "acme",
        "window": {"start": "2026-01-01T00:00:00+08:00", "end": "2030-01-01T00:00:00+08:00"},
        "regions": {"include": ["44"]},
        "ordinal": {"kind": "first_scan"},
        "budget": {"total_fen": 10_000_000},
        "prizes": [{"kind": "cash", "min_fen": 100, "max_fen": 100, "weight": 1.0}],
    }
    doc.update(over)
    return compile_campaign(cid, 1, parse_definition(doc), brand_id=1, product_ids=None)


@pytest.fixture
def batch(redis_any: redis.Redis) -> redis.Redis:
    write_batch_state(redis_any, BATCH, META, active=[(0, 999)], void=[])
    for cid in (1, 2):
        open_counters(redis_any, cid)
    return redis_any


def scanner(client: redis.Redis, *campaigns: CompiledCampaign) -> Scanner:
    matcher = Matcher(campaigns or (campaign(),), version=1)
    return Scanner(client, RING.batch_key_or_none, default_index(), rules=lambda: matcher,
                   clock=lambda: NOW, ip_regions=default_ip_index(), ticket_key=ticket_key(b"t" * 32),
                   receipt_key=receipt_key(b"r" * 32))


def page_scan(s: Scanner, serial: int, ip: str, device: str) -> ScanResult:
    """A scan as the H5 page makes it."""
    return s.scan(ScanRequest(code=code(serial), ip=ip, device_id=device), defer_for_location=True, tell_repeats=True)


def test_a_scan_outside_by_ip_is_held_then_drawn_once_with_the_phones_location(batch: redis.Redis) -> None:
    s = scanner(batch)
    first = page_scan(s, 1, CHENGDU_IP, "phone-a")
    assert first.status == FIRST and first.draws == () and [c.id for c in first.pending] == [1]
    assert first.region is not None and first.region.province == "四川省" and first.region_source == "ip"
    assert first.ticket
    event = batch.xrange(events_key(BATCH))[-1][1]
    assert event[b"src"] == b"ip" and event[b"adcode"] == b"510100"

    # Another phone cannot use the ticket.
    with pytest.raises(InvalidTicket, match="another device"):
        s.draw_located(first.ticket, ScanRequest(code=code(1), device_id="phone-b", lat=SHENZHEN[0], lng=SHENZHEN[1]))
    # Nor can it be moved to another code.
    with pytest.raises(InvalidTicket, match="another code"):
        s.draw_located(first.ticket, ScanRequest(code=code(2), device_id="phone-a", lat=SHENZHEN[0], lng=SHENZHEN[1]))

    # Location refused (none given), the address in Sichuan: nothing drawn, the code stays drawable.
    refused = s.draw_located(first.ticket, ScanRequest(code=code(1), ip=CHENGDU_IP, device_id="phone-a"))
    assert refused.draws == () and [c.id for c in refused.pending] == [1] and refused.region_source == "ip"

    located = s.draw_located(first.ticket, ScanRequest(code=code(1), ip=CHENGDU_IP, device_id="phone-a",
                                                       lat=SHENZHEN[0], lng=SHENZHEN[1]))
    assert located.region_source == "gps" and located.region is not None and located.region.city == "深圳市"
    assert [d.outcome for d in located.draws] == ["won"] and located.draws[0].amount_fen == 100
    assert located.draws[0].receipt and located.status == FIRST

    again = s.draw_located(first.ticket, ScanRequest(code=code(1), device_id="phone-a", lat=SHENZHEN[0],
                                                     lng=SHENZHEN[1]))
    # The same award (a post repeated within seconds replays the draw's reply; later, "already_won").
    assert [d.award_id for d in again.draws] == [located.draws[0].award_id]
    assert batch.xlen("{c:1}:awards") == 1  # drawn once
    # Rescans say where the first scan was by the phone's location now, not the IP's guess.
    rescan = page_scan(s, 1, CHENGDU_IP, "phone-b")
    assert rescan.first_region is not None and rescan.first_region.city == "深圳市"


def test_an_ip_inside_the_region_draws_at_once_and_a_campaign_refusing_ip_asks(batch: redis.Redis) -> None:
    s = scanner(batch)
    inside = page_scan(s, 3, GUANGZHOU_IP, "p")
    assert inside.pending == () and not inside.ticket and [d.outcome for d in inside.draws] == ["won"]

    gps_only = scanner(batch, campaign(2, regions={"include": ["44"], "sources": ["gps"]}))
    held = page_scan(gps_only, 4, GUANGZHOU_IP, "p")
    assert held.draws == () and [c.id for c in held.pending] == [2]
    # Without the page's deferral (the API), the same scan just misses the campaign.
    api = gps_only.scan(ScanRequest(code=code(5), ip=GUANGZHOU_IP, device_id="p"))
    assert api.draws == () and api.pending == () and api.region_source == "ip"


def test_a_rescan_from_the_first_phone_gets_a_new_ticket_and_another_phone_hears_the_truth(
        batch: redis.Redis) -> None:
    s = scanner(batch)
    first = page_scan(s, 6, CHENGDU_IP, "phone-a")
    other = page_scan(s, 6, CHENGDU_IP, "phone-b")
    assert other.status == REPEAT and not other.ticket and other.pending == ()
    assert [d.outcome for d in other.draws] == [FIRST_SCAN_USED]  # not "no campaign"

    again = page_scan(s, 6, CHENGDU_IP, "phone-a")
    assert again.status == REPEAT and again.first_by_this_device and again.ticket and again.ticket != first.ticket
    won = s.draw_located(again.ticket, ScanRequest(code=code(6), device_id="phone-a", lat=SHENZHEN[0],
                                                   lng=SHENZHEN[1]))
    assert [d.outcome for d in won.draws] == ["won"]

    after = page_scan(s, 6, CHENGDU_IP, "phone-b")
    assert [d.outcome for d in after.draws] == [TAKEN]


def test_a_code_that_drew_and_lost_is_told_as_drawn(batch: redis.Redis) -> None:
    lose = campaign(prizes=[{"kind": "cash", "min_fen": 100, "weight": 0.0}])
    s = scanner(batch, lose)
    page_scan(s, 7, GUANGZHOU_IP, "phone-a")
    other = page_scan(s, 7, GUANGZHOU_IP, "phone-b")
    assert [d.outcome for d in other.draws] == [ALREADY_DRAWN]


def test_a_ticket_draws_once_in_a_campaign_that_allows_many_draws_per_code(batch: redis.Redis) -> None:
    many = campaign(ordinal={"kind": "any"}, caps={"one_per_code": False})
    s = scanner(batch, many)
    held = page_scan(s, 8, CHENGDU_IP, "p")
    loc = ScanRequest(code=code(8), device_id="p", lat=SHENZHEN[0], lng=SHENZHEN[1])
    assert [d.outcome for d in s.draw_located(held.ticket, loc).draws] == ["won"]
    assert s.draw_located(held.ticket, loc).draws == ()
    assert batch.xlen("{c:1}:awards") == 1


def test_an_expired_ticket_and_too_many_tries_are_refused(batch: redis.Redis) -> None:
    s = scanner(batch)
    held = page_scan(s, 9, CHENGDU_IP, "p")
    later = Scanner(batch, RING.batch_key_or_none, default_index(), clock=lambda: NOW + 1801,
                    rules=lambda: Matcher((campaign(),)), ticket_key=ticket_key(b"t" * 32))
    with pytest.raises(InvalidTicket, match="expired"):
        later.draw_located(held.ticket, ScanRequest(code=code(9), device_id="p"))
    statuses = [s.draw_located(held.ticket, ScanRequest(code=code(9), device_id="p")).status for _ in range(11)]
    assert statuses[:10] == [FIRST] * 10 and statuses[10] == "rate_limited"


def test_without_a_ticket_key_or_a_device_the_page_draws_with_what_it_has(batch: redis.Redis) -> None:
    no_key = Scanner(batch, RING.batch_key_or_none, default_index(), rules=lambda: Matcher((campaign(),)),
                     clock=lambda: NOW, ip_regions=default_ip_index())
    result = page_scan(no_key, 10, CHENGDU_IP, "p")
    assert result.pending == () and not result.ticket and result.draws == ()  # outside by IP: no draw
    no_device = page_scan(scanner(batch), 11, CHENGDU_IP, "")
    assert no_device.pending == () and not no_device.ticket
