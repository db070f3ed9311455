"""The payouts in the ops API (Bearer): list, one with its history, retry and cancel, the CSV export, and
the reconciliation runs.

GET /api/v1/payouts takes brand (slug; a brand's token may leave it out), state, campaign_id, q (a prefix of
the bill number, award id or openid), since / until (RFC 3339: a day of China time or a date-time with its
offset), before_id and limit (1-200). Another brand's payout id reads exactly like a missing one (404); an
analyst's token reads and gets 403 on retry and cancel.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Response, abort, current_app, jsonify, request, stream_with_context

from accounts.roles import Principal
from app.audit_filters import FilterProblem
from app.auth import api_principal_or_none
from app.brand_scope import BrandScope, brand_by_slug, readable_brands
from app.errors import json_errors
from app.payout_actions import act_on_payout, submit_queue
from app.payout_filters import FIELDS, parse_before_id, parse_limit, parse_payout_filter
from app.rules_api import require_api_token
from payouts.errors import PayoutNotFound
from payouts.listing import (
    PayoutDetail,
    ReconciliationRun,
    list_payouts,
    payout_brand,
    payout_detail,
    payouts_csv,
    reconciliations,
)
from payouts.models import Payout, PayoutEvent
from payouts.points import points_balance, points_history

bp = Blueprint("payouts_api", __name__, url_prefix="/api/v1")
OPENID = re.compile(r"[A-Za-z0-9_-]{1,64}")  # WeChat openids are 28 such characters
bp.before_request(require_api_token)
json_errors(bp)
LIST_PARAMETERS = frozenset({"brand", *FIELDS, "before_id", "limit"})


def _sessions() -> Any:
    return current_app.extensions["yima.db"].sessions


def _caller() -> Principal:
    who = api_principal_or_none()
    assert who is not None  # require_api_token ran
    return who


def _iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).isoformat()  # SQLite: naive UTC


def payout_json(p: Payout) -> dict[str, Any]:
    return {"id": p.id, "award_id": p.award_id, "campaign_id": p.campaign_id, "openid": p.openid,
            "amount_fen": p.amount_fen, "provider": p.provider, "state": p.state, "attempt": p.attempt,
            "bill_no": p.bill_no, "provider_bill_id": p.provider_bill_id, "reason": p.reason,
            "message": p.message, "created_at": _iso(p.created_at), "updated_at": _iso(p.updated_at),
            "submitted_at": _iso(p.submitted_at), "finished_at": _iso(p.finished_at)}


def event_json(e: PayoutEvent) -> dict[str, Any]:
    return {"at": _iso(e.at), "source": e.source, "from_state": e.from_state, "to_state": e.to_state,
            "bill_no": e.bill_no, "reason": e.reason, "detail": e.detail}


def detail_json(d: PayoutDetail) -> dict[str, Any]:
    return {**payout_json(d.payout), "events": [event_json(e) for e in d.events]}


def run_json(r: ReconciliationRun) -> dict[str, Any]:
    return {"id": r.id, "day": r.day.isoformat(), "provider": r.provider, "ran_at": _iso(r.ran_at),
            "matched": r.matched, "missing": r.missing, "extra": r.extra, "mismatched": r.mismatched,
            "details": [{"bill_no": str(d.get("bill_no", "")), "what": str(d.get("what", "")),
                         "ledger": d.get("ledger"), "provider": d.get("provider")} for d in r.details]}


def _query_brand(allowed: frozenset[str]) -> BrandScope:
    """The brand the list is about: `brand`, or the caller's only brand. Unknown parameters are refused."""
    unknown = sorted(set(request.args) - allowed)
    if unknown:
        raise FilterProblem(unknown[0], "unknown parameter")
    who = _caller()
    slug = request.args.get("brand")
    if slug is None:
        brands = readable_brands(who)
        if len(brands) != 1:
            raise FilterProblem("brand", "name the brand by its slug, e.g. ?brand=demo")
        slug = brands[0][0]
    return brand_by_slug(slug, "read", who)


def _in_scope(payout_id: int, need: str) -> int:
    """The payout's brand, when the caller may `need` there: another brand's id is the same 404 as a
    missing one, a role too low 403."""
    with _sessions()() as s:
        brand_id = payout_brand(s, payout_id)
    who = _caller()
    if brand_id is None or not who.may(brand_id, "read"):
        raise PayoutNotFound(f"no payout {payout_id}")
    if not who.may(brand_id, need):
        abort(403, description="your role in this brand does not allow this")
    return brand_id


@bp.get("/payouts")
def payouts_index() -> Any:
    brand = _query_brand(LIST_PARAMETERS)
    f = parse_payout_filter(request.args, strict=True)
    limit = parse_limit(request.args.get("limit"))
    before_id = parse_before_id(request.args.get("before_id"))
    with _sessions()() as s:
        page = list_payouts(s, brand.id, f, limit=limit, before_id=before_id)
        return jsonify({"payouts": [payout_json(p) for p in page.rows], "next_before_id": page.next_before_id})


@bp.get("/payouts.csv")
def payouts_export() -> Any:
    brand = _query_brand(frozenset({"brand", *FIELDS}))
    f = parse_payout_filter(request.args, strict=True)

    def lines() -> Any:
        with _sessions()() as s:
            yield from payouts_csv(s, brand.id, f)

    resp = Response(stream_with_context(lines()), mimetype="text/csv")
    resp.headers["Content-Disposition"] = f'attachment; filename="yima-payouts-{brand.slug}.csv"'
    resp.headers["Cache-Control"] = "no-store"
    return resp


@bp.get("/payouts/<int:payout_id>")
def payout_show(payout_id: int) -> Any:
    brand_id = _in_scope(payout_id, "read")
    with _sessions()() as s:
        return jsonify(detail_json(payout_detail(s, brand_id, payout_id)))


def _act(payout_id: int, action: str) -> Any:
    if request.args:
        raise FilterProblem(sorted(request.args)[0], "unknown parameter")
    brand_id = _in_scope(payout_id, "operate")
    act_on_payout(_sessions(), _caller(), payout_id, action, enqueue_submit=submit_queue(current_app.extensions))
    with _sessions()() as s:
        return jsonify(detail_json(payout_detail(s, brand_id, payout_id)))


@bp.post("/payouts/<int:payout_id>/retry")
def payout_retry(payout_id: int) -> Any:
    return _act(payout_id, "retry")


@bp.post("/payouts/<int:payout_id>/cancel")
def payout_cancel(payout_id: int) -> Any:
    return _act(payout_id, "cancel")


@bp.get("/reconciliations")
def reconciliations_index() -> Any:
    unknown = sorted(set(request.args) - {"limit"})
    if unknown:
        raise FilterProblem(unknown[0], "unknown parameter")
    limit = parse_limit(request.args.get("limit"), default=20)
    with _sessions()() as s:
        runs = reconciliations(s, limit, brand_ids=_caller().readable_brand_ids())
    return jsonify({"reconciliations": [run_json(r) for r in runs]})


@bp.get("/points")
def points_index() -> Any:
    """A member's points balance and history in one brand (the member: the consumer's openid)."""
    brand = _query_brand(frozenset({"brand", "member", "limit", "before_id"}))
    member = request.args.get("member", "")
    if not OPENID.fullmatch(member):
        raise FilterProblem("member", "give the member's openid (1-64 letters, digits, _ or -)")
    limit = parse_limit(request.args.get("limit"))
    before_id = parse_before_id(request.args.get("before_id"))
    with _sessions()() as s:
        balance = points_balance(s, brand.id, member)
        lines = points_history(s, brand.id, member, limit=limit, before_id=before_id)
    return jsonify({"member": member, "balance": balance, "history": [
        {"delta": line.delta, "balance": line.balance, "reason": line.reason, "award_id": line.award_id,
         "at": _iso(line.at)} for line in lines]})
