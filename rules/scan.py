"""The consumer scan, top to bottom: verify (CPU) → batch facts (memory) → one Redis script → result.

Nothing here touches SQL. A scan makes one Redis round trip, the `scan.lua` call, and a scan that enters
campaigns one more, every campaign's draw sent together (one round trip per Redis server holding them);
the first time a process meets a batch, its metadata is read once and cached.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from codegen.batch_keys import batch_keys
from codegen.codeformat import CodeError, CodeFields, Role, extract_code, parse, verify_canonical
from reports.forged import ForgedCounter
from risk.gate import RiskGate, ScanFacts
from risk.policy import ALLOW, HOLD, NO_PRIZE, Decision
from rules.campaign import CompiledCampaign
from rules.draw import ALREADY_WON, CAPPED, DrawResult, campaign_day, draw_call, draw_state_call, restore_call
from rules.draw_ticket import (
    MAX_TRIES,
    DrawTicket,
    InvalidTicket,
    device_digest,
    issue_ticket,
    read_ticket,
    ticket_keys,
)
from rules.enumeration import EnumerationGuard, EnumerationLimits
from rules.errors import Kind, RulesError
from rules.ipregion import IpRegionIndex
from rules.lua import ScriptCall, ScriptCaller
from rules.matcher import Matcher, ScanContext
from rules.members import InvalidMemberToken, Member, read_member_token
from rules.receipts import AwardReceipt, InvalidReceipt, issue_receipt, read_receipt
from rules.region import Region, RegionIndex
from rules.scan_script import (
    FIRST,
    NOT_ON_SALE,
    RATE_LIMITED,
    REPEAT,
    VOID,
    ScanReply,
    relocate_first_call,
    scan_call,
)

__all__ = ["FIRST", "NOT_ON_SALE", "RATE_LIMITED", "REPEAT", "VOID", "ScanRequest", "ScanResult", "Scanner"]


def _new_id_source() -> tuple[str, itertools.count[int]]:
    return os.urandom(8).hex(), itertools.count()


_ids = _new_id_source()
os.register_at_fork(after_in_child=lambda: globals().update(_ids=_new_id_source()))


def next_scan_id() -> str:
    """An id for one scan's replay guard, unique across processes, hosts and restarts (a random 64-bit
    prefix per process, drawn again in a forked child, then a counter) without a syscall per scan."""
    prefix, counter = _ids
    return f"{prefix}{next(counter):x}"


class NotGenuine(RulesError):
    """The text is not a genuine code of a batch we know. `reason` says why (for logs and the API);
    `claimed_batch` is the batch id the text claims, when one is readable (not authenticated)."""

    code = "not_genuine"
    kind = Kind.NOT_FOUND

    def __init__(self, reason: str, message: str, claimed_batch: int | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.claimed_batch = claimed_batch

    def public_message(self) -> str:
        return f"not a genuine code ({self.reason})"


class ScanUnavailable(RulesError):
    """The scan cannot be decided right now (e.g. this node holds no key file); the message, for the
    logs, says why."""

    code = "unavailable"
    kind = Kind.UNAVAILABLE

    def public_message(self) -> str:
        return "verification is temporarily unavailable; retry shortly"


@dataclass(frozen=True)
class ScanLimits:
    ip_per_window: int = 60  # scans of one batch's codes from one IP per window; 0 = no limit
    device_per_window: int = 20
    window_seconds: int = 60
    replay_seconds: int = 30  # how long a retried script call replays the first reply (retries take ms)
    invalid: EnumerationLimits = field(default_factory=EnumerationLimits)  # invalid codes per source


@dataclass(frozen=True, slots=True)
class ScanRequest:
    code: str  # a bare code or a scan URL, as received
    ip: str = ""
    device_id: str = ""
    adcode: str | None = None
    lat: float | None = None
    lng: float | None = None
    member_token: str | None = None  # a signed member token (rules/members.py), never stored
    receipts: tuple[str, ...] = ()  # award receipts the device kept (rules/receipts.py); others' codes ignored


@dataclass(frozen=True, slots=True)
class BatchFacts:
    batch_id: int
    brand_id: int
    product_id: int
    brand: str
    brand_name: str
    sku: str
    product: str
    gtin: str
    lot: str
    factory: str
    production_date: str
    quantity: int
    pack: int

    @classmethod
    def from_meta(cls, batch_id: int, meta: dict[bytes, bytes]) -> BatchFacts:
        m = {k.decode(): v.decode() for k, v in meta.items()}
        return cls(
            batch_id=batch_id, brand_id=int(m.get("brand_id", "0")), product_id=int(m.get("product_id", "0")),
            brand=m.get("brand", ""), brand_name=m.get("brand_name", ""), sku=m.get("sku", ""),
            product=m.get("product", ""),
            gtin=m.get("gtin", ""), lot=m.get("lot", ""), factory=m.get("factory", ""),
            production_date=m.get("production_date", ""), quantity=int(m.get("quantity", "0")),
            pack=int(m.get("pack", "0")),
        )

    def serial_limit(self, role: Role) -> int | None:
        if role in (Role.INNER, Role.OUTER):
            return self.quantity
        if role is Role.CASE:
            return -(-self.quantity // self.pack) if self.pack else 0
        return None  # pallets: no declared count in v1

    def sale_serial(self, role: Role, serial: int) -> int:
        """The item serial whose activation decides whether this code is on sale."""
        return serial * self.pack if role is Role.CASE and self.pack else serial


@dataclass(frozen=True, slots=True)
class ScanResult:
    status: str
    code: str
    fields: CodeFields
    batch: BatchFacts
    scan_count: int
    first_at: datetime | None
    first_region: Region | None
    region: Region | None
    event_id: str
    first_by_this_device: bool = False  # a repeat scan from the phone that scanned first
    rules_version: int = 0
    draws: tuple[DrawResult, ...] = ()
    region_source: str = "none"  # where `region` came from: "gps" (the phone), "ip" (its address), "none"
    # Campaigns this scan would enter if the phone's location put it in their regions; with `ticket`, the
    # draw waits for that location (Scanner.scan's `defer_for_location`, then Scanner.draw_located).
    pending: tuple[CompiledCampaign, ...] = ()
    ticket: str = ""
    # The risk layer's decision (risk.policy: allow, hold, challenge, no_prize, block) and its reasons.
    risk: str = "allow"
    risk_reasons: str = ""


class BatchCache:
    """Batch metadata from Redis, kept in process memory for `ttl` seconds (misses for `negative_ttl`)."""

    def __init__(self, redis: Any, ttl: float = 30.0, negative_ttl: float = 2.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._redis = redis
        self._ttl, self._negative_ttl, self._clock = ttl, negative_ttl, clock
        self._entries: dict[int, tuple[float, BatchFacts | None]] = {}

    def get(self, batch_id: int) -> BatchFacts | None:
        now = self._clock()
        hit = self._entries.get(batch_id)
        if hit is not None and hit[0] > now:
            return hit[1]
        meta = self._redis.hgetall(batch_keys(batch_id)[0])
        facts = BatchFacts.from_meta(batch_id, meta) if meta else None
        if len(self._entries) > 100_000:
            self._entries.clear()
        self._entries[batch_id] = (now + (self._ttl if facts else self._negative_ttl), facts)
        return facts


class KeyCache:
    """Batch keys derived once per (key id, batch id); the derivation costs an HKDF. A lookup that
    raises (no key file yet) caches nothing."""

    def __init__(self, derive: Callable[[int, int], bytes | None]) -> None:
        self._derive = derive
        self._keys: dict[tuple[int, int], bytes | None] = {}

    def __call__(self, key_id: int, batch_id: int) -> bytes | None:
        try:
            return self._keys[key_id, batch_id]
        except KeyError:
            if len(self._keys) > 100_000:
                self._keys.clear()
            key = self._keys[key_id, batch_id] = self._derive(key_id, batch_id)
            return key


def claimed_batch(text: str) -> int | None:
    """The batch id a text that failed verification claims, when its header is readable at all."""
    try:
        return parse(extract_code(text))[0].batch_id
    except CodeError:
        return None


def device_tag(device_id: str) -> str:
    """Five hex digits identifying a device well enough to tell "you scanned this before" (1 in 10^6)."""
    return hashlib.sha256(device_id.encode()).hexdigest()[:5] if device_id else ""


def eligible(campaign: CompiledCampaign, status: str, first_by_this_device: bool, member: str) -> bool:
    """May this on-sale scan draw in this campaign? (The draw script enforces quantities and caps.)"""
    if campaign.ordinal == "first_scan":
        # A repeat from the phone that scanned first may finish a draw its first scan never reached;
        # the draw is idempotent per code, so this never pays twice.
        return status == FIRST or first_by_this_device
    if campaign.ordinal == "member_first":
        return bool(member) and status == FIRST
    return True


class Scanner:
    def __init__(self, redis: Any, key_for: Callable[[int, int], bytes | None], regions: RegionIndex,
                 limits: ScanLimits = ScanLimits(), clock: Callable[[], float] = time.time,
                 rules: Callable[[], Matcher] | None = None, member_secret: bytes | None = None,
                 receipt_key: bytes | None = None, ip_regions: IpRegionIndex | None = None,
                 ticket_key: bytes | None = None, risk: RiskGate | None = None) -> None:
        self._redis = redis
        self._risk = risk
        self._ip_regions = ip_regions
        self._ticket_key = ticket_key
        self._member_secret = member_secret
        self._receipt_key = receipt_key
        self._rules = rules or (lambda: Matcher(()))
        self._scripts = ScriptCaller(redis)
        self._guard = EnumerationGuard(redis, limits.invalid, forged=ForgedCounter(clock))
        self._keys = KeyCache(key_for)
        self._batches = BatchCache(redis)
        self._regions = regions
        self._limits = limits
        self._clock = clock

    def rules(self) -> Matcher:
        """The rules this node scans with now."""
        return self._rules()

    def key_for(self, key_id: int, batch_id: int) -> bytes | None:
        """The batch key this node verifies codes with (cached): for the channel's readers of codes."""
        return self._keys(key_id, batch_id)

    def close(self) -> None:
        """Close the script calls' own connections (the Redis client's pool is its owner's to close)."""
        self._scripts.close()
        self._guard.close()
        if self._risk is not None:
            self._risk.close()

    def identify(self, text: str) -> tuple[str, CodeFields, BatchFacts]:
        """Verify a code and find its batch (CPU + cache); raise NotGenuine otherwise."""
        try:
            fields, code = verify_canonical(extract_code(text), self._keys)
        except CodeError as exc:
            raise NotGenuine(exc.reason, str(exc), claimed_batch(text)) from None
        batch = self._batches.get(fields.batch_id)
        limit = batch.serial_limit(fields.role) if batch else 0
        if batch is None or (limit is not None and fields.serial >= limit):
            raise NotGenuine("unknown_batch", "this code belongs to no batch we know", fields.batch_id)
        return code, fields, batch

    def locate(self, req: ScanRequest) -> tuple[Region | None, str]:
        """The scan's region and where it came from: the phone's adcode or coordinates ("gps"), else the
        client address ("ip", rules/ipregion.py), else ("none")."""
        if req.adcode:
            return self._regions.lookup(req.adcode), "gps"
        if req.lat is not None and req.lng is not None:
            return self._regions.nearest(req.lat, req.lng), "gps"
        if self._ip_regions is not None and req.ip:
            found = self._ip_regions.lookup(req.ip)
            if found is not None:
                return found, "ip"
        return None, "none"

    def scan(self, req: ScanRequest, *, defer_for_location: bool = False, tell_repeats: bool = False) -> ScanResult:
        """One consumer scan. NotGenuine for an invalid code (counted against its source), SourceBlocked
        while the source is blocked for sending too many of those.

        `defer_for_location` (the H5 page): when a campaign could take this scan if the phone's location put
        it in the campaign's regions (Matcher.region_pending), the scan is recorded but nothing is drawn: the
        result lists those campaigns and carries a signed draw ticket for `draw_located`.

        `tell_repeats` (the H5 page): a rescan from another phone also hears what became of the code in the
        campaigns it may not draw in (TAKEN, ALREADY_DRAWN, FIRST_SCAN_USED), so the page never says "no
        campaign" of a code that won. The API leaves it off: its reply keeps the outcomes it documents."""
        self._guard.check(req.ip, req.device_id)
        try:
            code, fields, batch = self.identify(req.code)
        except NotGenuine as exc:
            self._guard.record_invalid(req.ip, req.device_id, exc.claimed_batch)
            raise
        kept = self.receipts_for(code, req.receipts)  # a bad receipt is refused before anything is counted
        region, source = self.locate(req)
        now = int(self._clock())
        who = self.member(req.member_token, now)
        member = who.ref if who else ""
        matcher = self._rules()  # this request keeps this rules version even if a publish lands now
        ctx = ScanContext(
            brand_id=batch.brand_id, product_id=batch.product_id, batch_id=batch.batch_id, serial=fields.serial,
            role=fields.role.label, now=now, adcode=region.adcode if region else None, region_source=source,
            member=who is not None, new_member=bool(who and who.is_new(now)), tier=who.tier if who else None,
            tags=who.tags if who else frozenset(),
        )
        campaigns = matcher.match(ctx)
        pending = matcher.region_pending(ctx) if defer_for_location and source != "gps" else []
        limits = self._limits
        tag = device_tag(req.device_id)
        decision, tainted, keep_drawable, pay_after = self._assess(req, fields, batch, who, region, source, now)
        reply = self._scripts.run(scan_call(
            batch_id=batch.batch_id, role=fields.role, serial=fields.serial,
            sale_serial=batch.sale_serial(fields.role, fields.serial), code=code, scan_id=next_scan_id(), now=now,
            adcode=region.adcode if region else "", ip=req.ip, device=req.device_id, device_tag=tag, member=member,
            rules_version=matcher.version, campaign_ids=",".join([str(c.id) for c in campaigns]),
            ip_limit=limits.ip_per_window, device_limit=limits.device_per_window,
            window_seconds=limits.window_seconds, replay_seconds=limits.replay_seconds, region_source=source,
            risk=decision.action, risk_reasons=decision.reasons_text(), tainted_risk=tainted,
            keep_drawable=keep_drawable,
        ))
        status = reply.status
        action = reply.risk
        # A challenge, no prize or block draws nothing now (the code stays drawable), unless the brand's policy
        # spends a no-prize code's draw; a hold draws as usual and the award waits for a reviewer.
        may_draw = action in (ALLOW, HOLD) or (action == NO_PRIZE and not keep_drawable)
        mine = status == REPEAT and bool(tag) and reply.first_device_tag == tag
        held, ticket = self._hold(pending if action in (ALLOW, HOLD) else [], kept, status, mine, member,
                                  req.device_id, code, batch, reply, now, action == HOLD)
        draws: tuple[DrawResult, ...] = ()
        if not held and may_draw and status in (FIRST, REPEAT) and (campaigns or kept):
            draws = self._draw(campaigns, kept, status, mine, who, code, fields, batch, reply.event_id, now,
                               matcher.version, held=action == HOLD, spend=action == NO_PRIZE, pay_after=pay_after)
            if self._risk is not None and req.device_id and any(d.outcome == CAPPED for d in draws):
                self._risk.note_capped(req.device_id, batch.batch_id, fields.serial)
        if tell_repeats and status == REPEAT and not mine and not held:
            draws = (*draws, *self._told_elsewhere(matcher, ctx, draws, kept, code, fields, batch))
        return ScanResult(
            status=status,
            code=code,
            fields=fields,
            batch=batch,
            scan_count=reply.count,
            first_at=datetime.fromtimestamp(reply.first_ts, UTC) if reply.first_ts is not None else None,
            first_region=self._regions.lookup(reply.first_adcode) if reply.first_adcode else None,
            region=region,
            event_id=reply.event_id,
            first_by_this_device=mine,
            rules_version=matcher.version,
            draws=draws,
            region_source=source,
            pending=held,
            ticket=ticket,
            risk=action,
            risk_reasons=reply.risk_reasons,
        )

    def _assess(self, req: ScanRequest, fields: CodeFields, batch: BatchFacts, who: Member | None,
                region: Region | None, source: str, now: int) -> tuple[Decision, str, bool, int]:
        """(the risk layer's decision, the decision for a code scanned before sale ("" none), whether a no-prize
        decision keeps the code drawable, the unix time before which a cash prize is not paid (0: no delay));
        everything allowed when the scanner has no risk layer."""
        if self._risk is None:
            return Decision(ALLOW), "", True, 0
        pack = batch.pack
        case = fields.serial if fields.role is Role.CASE else (fields.serial // pack if pack else -1)
        ip_adcode = ""
        if source == "gps" and self._ip_regions is not None and req.ip:
            found = self._ip_regions.lookup(req.ip)
            ip_adcode = found.adcode if found is not None else ""
        assessed = self._risk.assess(ScanFacts(
            brand_id=batch.brand_id, batch_id=batch.batch_id, serial=fields.serial, case=case,
            device_id=req.device_id, member=who.ref if who else "", new_member=bool(who and who.is_new(now)),
            ip=req.ip, adcode=region.adcode if region else "", region_source=source, ip_adcode=ip_adcode,
            lat=req.lat, lng=req.lng), now)
        policy = assessed.policy
        tainted = policy.tainted_code if policy.enabled and policy.tainted_code != ALLOW else ""
        return assessed.decision, tainted, policy.keep_drawable, self._pay_after(batch.brand_id, now)

    def _pay_after(self, brand_id: int, now: int) -> int:
        """The unix time before which a cash prize drawn now is not paid (the brand's risk policy); 0 none."""
        if self._risk is None:
            return 0
        policy = self._risk.policies.get(brand_id)
        return now + policy.payout_delay_s if policy.enabled and policy.payout_delay_s else 0

    def _hold(self, pending: list[CompiledCampaign], kept: dict[int, tuple[AwardReceipt, str]], status: str,
              mine: bool, member: str, device_id: str, code: str, batch: BatchFacts, reply: ScanReply,
              now: int, risk_held: bool = False) -> tuple[tuple[CompiledCampaign, ...], str]:
        """(the campaigns a scan's draw waits for, its signed draw ticket), or ((), "") to draw now: when
        none of them could draw this scan anyway, or no ticket can bind the draw to this phone."""
        key = self._ticket_key
        if not pending or status not in (FIRST, REPEAT) or not device_id or key is None:
            return (), ""
        held = tuple(c for c in pending if c.id not in kept and eligible(c, status, mine, member))
        if not held:
            return (), ""
        return held, issue_ticket(key, DrawTicket(
            code=code, batch_id=batch.batch_id, event_id=reply.event_id, device=device_digest(device_id),
            status=status, mine=mine, count=reply.count, issued_at=now, held=risk_held))

    def draw_located(self, token: str, req: ScanRequest) -> ScanResult:
        """The draw a scan's ticket held back (see `scan`), with the location the phone gave now (else its
        address), exactly as that scan would have drawn: the same status (a first scan's campaigns too),
        the same scan event. InvalidTicket when the ticket is not for this code and device or has expired.

        Campaigns still out of reach (no location given, or one outside their regions) are listed in
        `pending` and nothing is drawn in them: the code stays drawable for this phone (another try with
        the ticket, or a rescan). Once a draw has run, the ticket is spent: presented again it draws only
        where a code draws once anyway (showing that draw's result), so it cannot draw twice elsewhere."""
        if self._ticket_key is None:
            raise ScanUnavailable("this node issues no draw tickets")
        now = int(self._clock())
        ticket = read_ticket(self._ticket_key, token, device_id=req.device_id, now=now)
        code, fields, batch = self.identify(req.code)
        if code != ticket.code:
            raise InvalidTicket("the ticket is for another code")
        tries, spent = ticket_keys(ticket)
        pipe = self._redis.pipeline(transaction=False)
        pipe.incr(tries)
        pipe.expire(tries, 2 * 1800)
        if int(pipe.execute()[0]) > MAX_TRIES:
            return self._ticket_result(RATE_LIMITED, ticket, fields, batch, None, "none", 0, (), ())
        region, source = self.locate(req)
        matcher = self._rules()
        ctx = ScanContext(
            brand_id=batch.brand_id, product_id=batch.product_id, batch_id=batch.batch_id, serial=fields.serial,
            role=fields.role.label, now=now, adcode=region.adcode if region else None, region_source=source)
        campaigns = matcher.match(ctx)
        pending = [c for c in matcher.region_pending(ctx) if eligible(c, ticket.status, ticket.mine, "")]
        kept = self.receipts_for(code, req.receipts)
        todo = [c for c in campaigns if c.id not in kept and eligible(c, ticket.status, ticket.mine, "")]
        # Campaigns that draw once per code are idempotent; any other draws once per ticket.
        if any(not c.one_per_code for c in todo) and not self._redis.set(spent, 1, nx=True, ex=2 * 1800):
            campaigns = [c for c in campaigns if c.one_per_code]
        draws = self._draw(campaigns, kept, ticket.status, ticket.mine, None, code, fields, batch, ticket.event_id,
                           now, matcher.version, held=ticket.held,
                           pay_after=self._pay_after(batch.brand_id, now)) if campaigns or kept else ()
        if source == "gps" and region is not None and ticket.status == FIRST:
            # The first scan's place, shown on every rescan, was the IP's guess: the phone has said where.
            self._scripts.run(relocate_first_call(batch_id=batch.batch_id, role=fields.role.label,
                                                  serial=fields.serial, first_ts=ticket.issued_at,
                                                  device_tag=device_tag(req.device_id), adcode=region.adcode))
        return self._ticket_result(ticket.status, ticket, fields, batch, region, source, matcher.version, draws,
                                   tuple(pending))

    def _ticket_result(self, status: str, ticket: DrawTicket, fields: CodeFields, batch: BatchFacts,
                       region: Region | None, source: str, version: int, draws: tuple[DrawResult, ...],
                       pending: tuple[CompiledCampaign, ...]) -> ScanResult:
        return ScanResult(status=status, code=ticket.code, fields=fields, batch=batch, scan_count=ticket.count,
                          first_at=None, first_region=None, region=region, event_id=ticket.event_id,
                          first_by_this_device=ticket.mine, rules_version=version, draws=draws,
                          region_source=source, pending=pending)

    def _told_elsewhere(self, matcher: Matcher, ctx: ScanContext, draws: tuple[DrawResult, ...],
                        kept: dict[int, tuple[AwardReceipt, str]], code: str, fields: CodeFields,
                        batch: BatchFacts) -> tuple[DrawResult, ...]:
        """For a rescan from another phone: what became of the code in campaigns it may not draw in itself
        (a first-scan campaign, or one whose regions this scan is outside), so the page says "this code's
        prize was taken" rather than "no campaign". Read-only; runs only when such campaigns exist."""
        seen = {d.campaign_id for d in draws} | set(kept)
        others = [c for c in matcher.match_any_region(ctx) if c.id not in seen and c.one_per_code]
        if not others:
            return ()
        calls = [draw_state_call(c, code=code, batch_id=batch.batch_id, role=fields.role.label, serial=fields.serial)
                 for c in others]
        results: list[DrawResult] = self._scripts.run_all(calls)
        return tuple(results)

    def member(self, token: str | None, now: float) -> Member | None:
        """The scanning member from a signed member token (CPU only); InvalidMemberToken if it is bad."""
        if not token:
            return None
        if self._member_secret is None:
            raise InvalidMemberToken("this node accepts no member tokens")
        return read_member_token(self._member_secret, token, now)

    def receipts_for(self, code: str, tokens: tuple[str, ...]) -> dict[int, tuple[AwardReceipt, str]]:
        """The presented receipts of this code, by campaign; InvalidReceipt when one is not ours."""
        if not tokens:
            return {}
        if self._receipt_key is None:
            raise InvalidReceipt("this node accepts no award receipts")
        kept = {}
        for token in tokens:
            receipt = read_receipt(self._receipt_key, token)
            if receipt.code == code and receipt.one_per_code:
                kept[receipt.campaign_id] = (receipt, token)
        return kept

    def _draw(self, campaigns: list[CompiledCampaign], kept: dict[int, tuple[AwardReceipt, str]], status: str,
              mine: bool, who: Member | None, code: str, fields: CodeFields, batch: BatchFacts, event_id: str,
              now: int, version: int, held: bool = False, spend: bool = False,
              pay_after: int = 0) -> tuple[DrawResult, ...]:
        """The second, idempotent step: every eligible campaign's draw, sent together (rules/lua.py).

        A campaign whose receipt the device presented is not drawn again: its award is restored if Redis
        lost it (restore.lua) and shown as already won."""
        member = who.ref if who else ""
        todo = [c for c in campaigns if c.id not in kept and eligible(c, status, mine, member)]
        if not todo and not kept:
            return ()
        calls: list[ScriptCall[DrawResult]] = [restore_call(receipt) for receipt, _token in kept.values()]
        calls += [
            draw_call(c, code=code, batch_id=batch.batch_id, role=fields.role.label, serial=fields.serial,
                      member=member, tier=who.tier if who else None, rules_version=version, scan_event=event_id,
                      scan_id=event_id, now=now, held=held, spend=spend, pay_after=pay_after)
            for c in todo
        ]
        results: list[DrawResult] = self._scripts.run_all(calls)
        restored = [replace(r, receipt=token) if r.outcome == ALREADY_WON else r
                    for r, (_receipt, token) in zip(results[:len(kept)], kept.values(), strict=True)]
        drawn = [self._receipted(r, c, code, fields, batch, member, version, now)
                 for r, c in zip(results[len(kept):], todo, strict=True)]
        return (*restored, *drawn)

    def _receipted(self, result: DrawResult, c: CompiledCampaign, code: str, fields: CodeFields, batch: BatchFacts,
                   member: str, version: int, now: int) -> DrawResult:
        """A fresh award with its signed receipt attached (rules/receipts.py); anything else as it is."""
        if not result.award_id or result.outcome == ALREADY_WON or self._receipt_key is None:
            return result
        prize = result.prize
        return replace(result, receipt=issue_receipt(self._receipt_key, AwardReceipt(
            award_id=result.award_id, campaign_id=c.id, code=code, batch_id=batch.batch_id, role=fields.role.label,
            serial=fields.serial, prize_index=prize.index if prize else -1, kind=prize.kind if prize else "",
            name=prize.name if prize else "", amount_fen=result.amount_fen, points=result.points,
            coupon=result.coupon, rules_version=version, member=member, awarded_at=now, day=campaign_day(c, now),
            one_per_code=c.one_per_code)))
