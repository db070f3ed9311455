"""The risk review in the ops API (Bearer): the flag queue and its actions, held awards, block / allow lists
and a brand's policy.

GET    /api/v1/risk/flags?brand=&state=&kind=&limit=&offset=     the queue (state open by default; any: all)
GET    /api/v1/risk/flags/<id>                                    one flag, with its subject's held awards
POST   /api/v1/risk/flags/<id>/block | /clear  {"note"?}          review it (held awards rejected | released)
GET    /api/v1/risk/holds?brand=&limit=&offset=                   awards held and not reviewed yet
POST   /api/v1/risk/holds/<award id>/release | /reject {"note"?}  one held award
GET    /api/v1/risk/lists?brand=|platform=true&kind=&action=      block and allow entries
POST   /api/v1/risk/lists?brand=  {"kind", "subject", "action", "note"?, "expires_at"?, "platform"?}
DELETE /api/v1/risk/lists/<id>
GET    /api/v1/risk/policy?brand=   PUT with the overrides object (an empty one: the defaults)

A brand's token may leave `brand` out. Operators and admins act, analysts read (403); another brand's id
reads exactly like a missing one (404). Platform list entries (every brand) are the platform admins' alone.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, abort, current_app, jsonify, request

from accounts.roles import Principal
from app.audit_filters import SQL_INT_MAX, FilterProblem
from app.auth import api_principal_or_none
from app.brand_scope import BrandScope, brand_by_slug, readable_brands
from app.errors import json_errors
from app.payout_actions import submit_queue
from app.rules_api import require_api_token
from codegen.db import transaction
from payouts.claims import Rail
from risk import lists, policy_store, review
from risk.errors import InvalidRisk, RiskNotFound
from risk.models import RiskFlag, RiskListEntry
from risk.policy import RiskPolicy
from rules.models import Award

bp = Blueprint("risk_api", __name__, url_prefix="/api/v1/risk")
bp.before_request(require_api_token)
json_errors(bp)

MAX_PAGE = 200
ANY = "any"
ENTRY_FIELDS = frozenset({"kind", "subject", "action", "note", "expires_at", "platform"})


def _sessions() -> Any:
    return current_app.extensions["yima.db"].sessions


def _redis() -> Any:
    return current_app.extensions["yima.redis"]


def _caller() -> Principal:
    who = api_principal_or_none()
    assert who is not None  # require_api_token ran
    return who


def _iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).isoformat()  # SQLite: naive UTC


# --- parameters --------------------------------------------------------------------------------------------

def _only(allowed: set[str]) -> None:
    unknown = sorted(set(request.args) - allowed)
    if unknown:
        raise FilterProblem(unknown[0], "unknown parameter")


def _whole(name: str, default: int, low: int, high: int) -> int:
    raw = request.args.get(name)
    if raw is None:
        return default
    if not (raw.isascii() and raw.isdigit()) or not low <= int(raw) <= high:
        raise FilterProblem(name, f"must be a whole number from {low} to {high}")
    return int(raw)


def _paging() -> tuple[int, int]:
    return _whole("limit", 50, 1, MAX_PAGE), _whole("offset", 0, 0, SQL_INT_MAX)


def _brand(need: str) -> BrandScope:
    """The brand named by `brand`, or the caller's only brand."""
    who = _caller()
    slug = request.args.get("brand")
    if slug is None:
        brands = readable_brands(who)
        if len(brands) != 1:
            raise FilterProblem("brand", "name the brand by its slug, e.g. ?brand=demo")
        slug = brands[0][0]
    return brand_by_slug(slug, need, who)


def _body(allowed: frozenset[str] | None = None, *, required: bool = False) -> dict[str, Any]:
    """The JSON object sent (an empty body: {} unless `required`)."""
    if not request.get_data() and not required:
        return {}
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise InvalidRisk("the body must be a JSON object")
    if allowed is not None:
        unknown = sorted(set(body) - allowed)
        if unknown:
            raise InvalidRisk(f"unknown field {unknown[0]!r}", unknown[0])
    return body


def _note() -> str:
    note = _body(frozenset({"note"})).get("note", "")
    if not isinstance(note, str):
        raise InvalidRisk("note must be text", "note")
    return note


def _in_brand(brand_id: int | None, need: str, missing: Exception) -> int:
    """The brand when the caller may `need` there: another brand's reads as missing (404), a role too low 403."""
    who = _caller()
    if brand_id is None or not who.may(brand_id, "read"):
        raise missing
    if not who.may(brand_id, need):
        abort(403, description="your role in this brand does not allow this")
    return brand_id


def _rail() -> Rail | None:
    """The rail a released award's claim is paid on (the app's payout provider); None leaves the claim to the
    payout worker's claim sweep."""
    services = current_app.extensions.get("yima.payouts")
    try:
        provider = services.provider if services is not None else None
    except Exception:  # a provider that cannot be built here (keys missing): the worker pays it
        current_app.logger.warning("risk release: no payout provider; the worker settles the claim")
        return None
    return None if provider is None else Rail(provider.name, provider.bill_no_length)


# --- shapes ------------------------------------------------------------------------------------------------

def flag_json(flag: RiskFlag, held: int | None = None) -> dict[str, Any]:
    evidence = {k: v for k, v in (flag.evidence or {}).items() if k != "events"}
    out = {"id": flag.id, "kind": flag.kind, "subject": flag.subject, "state": flag.state,
           "reasons": dict(flag.reasons or {}), "hits": flag.hits, "samples": list(flag.samples or []),
           "evidence": evidence, "first_at": _iso(flag.first_at), "last_at": _iso(flag.last_at),
           "first_event": flag.first_event, "reviewed_by": flag.reviewed_by, "reviewed_at": _iso(flag.reviewed_at),
           "note": flag.note}
    if held is not None:
        out["held"] = held
    return out


def hold_json(award: Award, claimed_by: str | None, payout_state: str | None) -> dict[str, Any]:
    return {"id": award.id, "campaign_id": award.campaign_id, "code": award.code, "batch_id": award.batch_id,
            "serial": award.serial, "kind": award.kind, "amount_fen": award.amount_fen, "points": award.points,
            "member": award.member, "awarded_at": _iso(award.awarded_at), "status": award.status,
            "risk_hold": award.risk_hold, "void_reason": award.void_reason, "claimed_by": claimed_by,
            "payout_state": payout_state}


def entry_json(e: RiskListEntry) -> dict[str, Any]:
    return {"id": e.id, "platform": e.brand_id is None, "kind": e.kind, "subject": e.subject, "action": e.action,
            "note": e.note, "created_by": e.created_by, "created_at": _iso(e.created_at),
            "expires_at": _iso(e.expires_at)}


def policy_json(view: policy_store.PolicyView) -> dict[str, Any]:
    return {"overrides": view.overrides, "policy": view.policy.to_doc(), "defaults": RiskPolicy().to_doc(),
            "updated_by": view.updated_by, "updated_at": _iso(view.updated_at)}


# --- flags -------------------------------------------------------------------------------------------------

@bp.get("/flags")
def flags_index() -> Any:
    _only({"brand", "state", "kind", "limit", "offset"})
    brand = _brand("read")
    state = request.args.get("state", RiskFlag.OPEN)
    if state not in (*RiskFlag.STATES, ANY):
        raise FilterProblem("state", f"must be one of {', '.join((*RiskFlag.STATES, ANY))}")
    kind = request.args.get("kind")
    limit, offset = _paging()
    with _sessions()() as s:
        page = review.flag_queue(s, brand.id, None if state == ANY else state, kind, limit, offset)
        return jsonify({"flags": [flag_json(r.flag, r.held) for r in page.rows], "total": page.total})


def _flag_brand(flag_id: int, need: str) -> int:
    if flag_id > SQL_INT_MAX:  # no such id fits the table's INTEGER: the same 404 as any unknown id
        raise RiskNotFound(f"no flag {flag_id}")
    with _sessions()() as s:
        brand_id = review.flag_brand(s, flag_id)
    return _in_brand(brand_id, need, RiskNotFound(f"no flag {flag_id}"))


@bp.get("/flags/<int:flag_id>")
def flag_show(flag_id: int) -> Any:
    _only(set())
    brand_id = _flag_brand(flag_id, "read")
    with _sessions()() as s:
        d = review.flag_detail(s, brand_id, flag_id)
        return jsonify({**flag_json(d.flag, len(d.awards)),
                        "awards": [hold_json(h.award, h.claimed_by, h.payout_state) for h in d.awards]})


def _review(flag_id: int, action: str) -> Any:
    _only(set())
    brand_id = _flag_brand(flag_id, "operate")
    note = _note()
    who = _caller()
    rail = _rail() if action == "clear" else None
    with transaction(_sessions()) as s:
        if action == "block":
            done = review.block_flag(s, _redis(), brand_id, flag_id, who.actor, note)
        else:
            done = review.clear_flag(s, _redis(), brand_id, flag_id, who.actor, note, rail=rail)
        out = {**flag_json(done.flag), "affected": done.awards}
    if action == "clear":
        _enqueue_pending(done.awards)
    return jsonify(out)


@bp.post("/flags/<int:flag_id>/block")
def flag_block(flag_id: int) -> Any:
    return _review(flag_id, "block")


@bp.post("/flags/<int:flag_id>/clear")
def flag_clear(flag_id: int) -> Any:
    return _review(flag_id, "clear")


# --- held awards -------------------------------------------------------------------------------------------

@bp.get("/holds")
def holds_index() -> Any:
    _only({"brand", "limit", "offset"})
    brand = _brand("read")
    limit, offset = _paging()
    with _sessions()() as s:
        page = review.held_awards(s, brand.id, limit, offset)
        return jsonify({"holds": [hold_json(h.award, h.claimed_by, h.payout_state) for h in page.rows],
                        "total": page.total})


def _enqueue_pending(award_ids: list[str]) -> None:
    """Queue the submit of released awards' pending payouts now; the worker's sweep would get them anyway."""
    enqueue = submit_queue(current_app.extensions)
    if enqueue is None or not award_ids:
        return
    with _sessions()() as s:
        ids = review.pending_payouts(s, award_ids)
    for payout_id in ids:
        enqueue(payout_id)


def _hold_action(award_id: str, action: str) -> Any:
    _only(set())
    with _sessions()() as s:
        brand_id = review.award_brand(s, award_id) if len(award_id) <= 48 else None
    brand_id = _in_brand(brand_id, "operate", RiskNotFound(f"no award {award_id[:48]}"))
    note = _note()
    who = _caller()
    with transaction(_sessions()) as s:
        if action == "release":
            done = review.release_award(s, brand_id, award_id, who.actor, rail=_rail(), note=note)
        else:
            done = review.reject_award(s, _redis(), brand_id, award_id, who.actor, note=note)
        payout_state = done.payout.state if done.payout is not None else None
        out = hold_json(done.award, None, payout_state)
    if action == "release":
        _enqueue_pending([award_id])
    return jsonify(out)


@bp.post("/holds/<award_id>/release")
def hold_release(award_id: str) -> Any:
    return _hold_action(award_id, "release")


@bp.post("/holds/<award_id>/reject")
def hold_reject(award_id: str) -> Any:
    return _hold_action(award_id, "reject")


# --- lists -------------------------------------------------------------------------------------------------

def _platform_flag(value: Any, field: str) -> bool:
    if value in (None, False, "false", "0"):
        return False
    if value in (True, "true", "1"):
        return True
    raise InvalidRisk(f"{field} must be true or false", field)


def _list_owner(platform: bool, need: str) -> int | None:
    """The list's owner: a brand's id, or None for the platform's (platform admins only: others read 404)."""
    if platform:
        if "brand" in request.args:
            raise FilterProblem("brand", "give either brand or platform=true")
        if not _caller().platform_admin:
            abort(404)
        return None
    return _brand(need).id


@bp.get("/lists")
def lists_index() -> Any:
    _only({"brand", "platform", "kind", "action", "limit", "offset"})
    owner = _list_owner(_platform_flag(request.args.get("platform"), "platform"), "read")
    limit, offset = _paging()
    with _sessions()() as s:
        page = lists.list_entries(s, owner, kind=request.args.get("kind"), action=request.args.get("action"),
                                  limit=limit, offset=offset)
        return jsonify({"entries": [entry_json(e) for e in page.entries], "total": page.total})


def _expires(value: Any) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > 40:
        raise InvalidRisk("expires_at must be an RFC 3339 date-time with its offset", "expires_at")
    try:
        moment = datetime.fromisoformat(value.upper().replace("Z", "+00:00"))
    except ValueError:
        raise InvalidRisk("expires_at must be an RFC 3339 date-time with its offset", "expires_at") from None
    if moment.tzinfo is None:
        raise InvalidRisk("expires_at must carry its offset", "expires_at")
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        raise InvalidRisk("expires_at is out of range", "expires_at") from None


@bp.post("/lists")
def lists_create() -> Any:
    _only({"brand"})
    body = _body(ENTRY_FIELDS, required=True)
    owner = _list_owner(_platform_flag(body.get("platform"), "platform"), "operate")
    for name in ("kind", "action"):
        if not isinstance(body.get(name), str):
            raise InvalidRisk(f"{name} is required", name)
    note = body.get("note", "")
    if not isinstance(note, str):
        raise InvalidRisk("note must be text", "note")
    with transaction(_sessions()) as s:
        entry = lists.add_entry(s, _redis(), brand_id=owner, kind=body["kind"], subject=body.get("subject"),
                                action=body["action"], actor=_caller().actor, note=note,
                                expires_at=_expires(body.get("expires_at")))
        out = entry_json(entry)
    return jsonify(out), 201


@bp.delete("/lists/<int:entry_id>")
def lists_delete(entry_id: int) -> Any:
    _only(set())
    missing = RiskNotFound(f"no list entry {entry_id}")
    if entry_id > SQL_INT_MAX:
        raise missing
    with _sessions()() as s:
        found, brand_id = lists.entry_brand(s, entry_id)
    if not found:
        raise missing
    if brand_id is None:
        if not _caller().platform_admin:
            raise missing
    else:
        _in_brand(brand_id, "operate", missing)
    with transaction(_sessions()) as s:
        entry = lists.remove_entry(s, _redis(), entry_id, brand_id=brand_id, actor=_caller().actor)
        out = entry_json(entry)
    return jsonify(out)


# --- policy ------------------------------------------------------------------------------------------------

@bp.get("/policy")
def policy_show() -> Any:
    _only({"brand"})
    brand = _brand("read")
    with _sessions()() as s:
        return jsonify({"brand": brand.slug, **policy_json(policy_store.get_policy(s, brand.id))})


@bp.put("/policy")
def policy_update() -> Any:
    _only({"brand"})
    brand = _brand("operate")
    body = _body(required=True)
    with transaction(_sessions()) as s:
        view = policy_store.save_policy(s, _redis(), brand.id, body, _caller().actor)
    return jsonify({"brand": brand.slug, **policy_json(view)})
