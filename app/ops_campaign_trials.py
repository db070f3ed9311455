"""Trying campaigns out from the console: simulate one scan (which campaigns match, why not, the odds) and
backtest a campaign over a past period. Both read only; analysts may use them."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask import current_app, render_template, request

from app.auth import tr
from app.campaign_form import DEFAULT_TIMEZONE
from app.ops_campaigns import bp, load_campaign, principal, sessions
from codegen.codeformat import MAX_BATCH_ID, MAX_SERIAL
from rules import campaign_listing as listing
from rules.backtest import backtest as run_backtest
from rules.campaign import InvalidCampaign, Problem
from rules.campaign_store import compile_row
from rules.region import default_index
from rules.region_tree import region_children, region_label
from rules.scan import NotGenuine, Scanner
from rules.simulate import SimulatedMember, simulate_scan, simulation_context

ZONE = ZoneInfo(DEFAULT_TIMEZONE)
REASONS_ZH = {
    "matched": "命中",
    "outside the campaign window": "不在活动时间内",
    "outside the daily hours": "不在每日时段内",
    "other batch": "不是活动批次",
    "other product": "不是活动产品",
    "other brand": "不是本品牌",
    "serial outside the campaign's code segments": "序号不在活动号段内",
    "outside the campaign's regions": "不在活动地区内",
    "scan region unknown": "扫码地区未知",
    "in an excluded region": "在排除的地区内",
    "members only": "仅限会员",
    "new members only": "仅限新会员",
    "member tier not eligible": "会员等级不符",
    "member has none of the required tags": "会员没有所需标签",
    "first scan of the code": "码的首次扫码",
    "the member's first scan": "会员的首次扫码",
}


def reason_text(reason: str) -> str:
    if reason.startswith("every ") and reason.endswith("th scan"):
        return tr(f"每第 {reason[6:-7]} 次扫码", reason)
    if reason.startswith("code role "):
        return tr("码的类型不符（", "") + reason + tr("）", "")
    return tr(REASONS_ZH[reason], reason) if reason in REASONS_ZH else reason


@dataclass
class SimulateForm:
    code: str = ""
    batch_id: str = ""
    serial: str = "0"
    role: str = "inner"
    adcode: str = ""
    member: bool = False
    tier: str = ""
    tags: str = ""
    new_member: bool = False
    at: str = ""
    problems: list[Problem] = field(default_factory=list)


def _by_field(problems: list[Problem]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for p in problems:
        out.setdefault(p.field, []).append(p.message)
    return out


def _digits(text: str) -> bool:
    return text.isascii() and text.isdigit()


def _local(text: str) -> datetime:
    """A datetime-local value in Beijing time (now when empty); ValueError outside 2000-2100."""
    moment = datetime.fromisoformat(text).replace(tzinfo=ZONE) if text else datetime.now(ZONE)
    if not 2000 <= moment.year <= 2100:
        raise ValueError(text)
    return moment


def _simulation(s: Any, f: SimulateForm) -> Any:
    """The simulation of the form's scan, or None with f.problems filled."""
    scanner: Scanner = current_app.extensions["yima.scanner"]
    batch_id, serial, role = None, None, f.role
    if f.code:
        try:
            _code, fields, _facts = scanner.identify(f.code)
            batch_id, serial, role = fields.batch_id, fields.serial, fields.role.label
        except NotGenuine as exc:
            f.problems.append(Problem("code", f"not a genuine code ({exc.reason})"))
    else:
        batch_id = int(f.batch_id) if _digits(f.batch_id) and int(f.batch_id) <= MAX_BATCH_ID else None
        serial = int(f.serial) if _digits(f.serial) and int(f.serial) <= MAX_SERIAL else None
        if batch_id is None:
            f.problems.append(Problem("batch_id", "choose a batch, or paste a code"))
        if serial is None:
            f.problems.append(Problem("serial", f"must be a whole number 0-{MAX_SERIAL}"))
    if role not in ("inner", "outer"):
        f.problems.append(Problem("role", "must be inner or outer"))
    if f.adcode and default_index().lookup(f.adcode.ljust(6, "0")) is None:
        f.problems.append(Problem("adcode", f"unknown region {f.adcode!r}"))
    try:
        at = _local(f.at)
    except ValueError:
        f.problems.append(Problem("at", "must be a date and time"))
        at = datetime.now(ZONE)
    if batch_id is not None:
        brand_id = listing.batch_brand(s, batch_id)
        if brand_id is None or not principal().may(brand_id, "read"):
            f.problems.append(Problem("code" if f.code else "batch_id", f"unknown batch {batch_id}"))
    if f.problems or batch_id is None or serial is None:
        return None
    member = SimulatedMember(f.tier or None, frozenset(t for t in f.tags.replace("，", ",").split(",") if t.strip()),
                             f.new_member) if f.member else None
    try:
        ctx = simulation_context(s, default_index(), batch_id=batch_id, serial=serial, role=role,
                                 now=at.timestamp(), adcode=f.adcode.ljust(6, "0") if f.adcode else None,
                                 member=member)
    except InvalidCampaign as exc:
        f.problems.extend(exc.problems)
        return None
    return ctx, simulate_scan(s, ctx, default_index())


@bp.route("/simulate", methods=["GET", "POST"])
def simulate() -> Any:
    who = principal()
    data = request.form if request.method == "POST" else request.args
    f = SimulateForm(code=data.get("code", "").strip(), batch_id=data.get("batch_id", ""),
                     serial=data.get("serial", "0").strip() or "0", role=data.get("role", "inner"),
                     adcode=data.get("adcode", "").strip(), member=bool(data.get("member")),
                     tier=data.get("tier", "").strip(), tags=data.get("tags", "").strip(),
                     new_member=bool(data.get("new_member")), at=data.get("at", "").strip())
    result = None
    with sessions()() as s:
        if request.method == "GET" and _digits(campaign_id := request.args.get("campaign", "")) \
                and int(campaign_id) < 1 << 31:
            _prefill(f, load_campaign(s, int(campaign_id), "read").definition)
        if request.method == "POST":
            result = _simulation(s, f)
        batches = [(b, c) for b in listing.brands(s, who.readable_brand_ids())
                   for c in listing.catalogue(s, b.id).batches]
        status = 400 if f.problems else 200
        return render_template("ops/campaigns/simulate.html", f=f, result=result, batches=batches,
                               provinces=region_children(""), region_label=region_label,
                               errors=_by_field(f.problems), reason_text=reason_text), status


def _prefill(f: SimulateForm, doc: dict[str, Any]) -> None:
    """Start from a scan the campaign should match: its first batch and serial, its first region, now."""
    scope, regions = doc.get("scope") or {}, doc.get("regions") or {}
    if scope.get("batches"):
        f.batch_id = str(scope["batches"][0])
    if scope.get("serials"):
        f.serial = str(scope["serials"][0][0])
    if scope.get("roles"):
        f.role = scope["roles"][0]
    if regions.get("include"):
        f.adcode = regions["include"][0]
    f.at = datetime.now(ZONE).replace(second=0, microsecond=0, tzinfo=None).isoformat(timespec="minutes")


@bp.route("/<int:campaign_id>/backtest", methods=["GET", "POST"])
def backtest(campaign_id: int) -> Any:
    data = request.form if request.method == "POST" else request.args
    today = datetime.now(ZONE).replace(hour=0, minute=0, second=0, microsecond=0, tzinfo=None)
    start_text = data.get("from") or (today - timedelta(days=30)).isoformat(timespec="minutes")
    end_text = data.get("to") or (today + timedelta(days=1)).isoformat(timespec="minutes")
    seed_text = (data.get("seed") or "0").strip()
    problems: list[Problem] = []
    report = None
    with sessions()() as s:
        row = load_campaign(s, campaign_id, "read")
        try:
            start, end = _local(start_text), _local(end_text)
        except ValueError:
            problems.append(Problem("from", "must be a date and time (years 2000-2100)"))
        if not _digits(seed_text.removeprefix("-")):
            problems.append(Problem("seed", "must be a whole number"))
        if not problems and end <= start:
            problems.append(Problem("to", "ends before it starts"))
        if request.method == "POST" and not problems:
            try:
                compiled = compile_row(s, row, default_index())
                report = run_backtest(s, compiled, start.astimezone(UTC), end.astimezone(UTC),
                                      int(seed_text)).as_dict(compiled)
            except InvalidCampaign as exc:
                problems.extend(exc.problems)
        return render_template("ops/campaigns/backtest.html", row=row, start=start_text, end=end_text,
                               seed=seed_text, report=report,
                               errors=_by_field(problems), problems=problems), \
            400 if problems else 200
