"""Operations API for campaigns and rules: CRUD, publish, rollback, simulate. Bearer-token protected.

Every route needs `Authorization: Bearer <token>`: a personal API token (scoped to one brand and role) or
the platform bootstrap token YIMA_OPS_TOKEN; wrong tokens are counted and locked out (app/auth_limits.py).
Invalid campaigns get 400 with every problem listed: {"error": {..., "problems": [{field, message}]}}. A PUT
carries the `edit_version` it was made on (409 edit_conflict when it moved on); POST /campaigns and /clone
take an `Idempotency-Key`.
"""

from __future__ import annotations

import copy
import re
import time
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, abort, current_app, jsonify, request

from accounts.audit import record_change
from accounts.roles import Principal
from app.auth import api_principal_or_none, authenticate_bearer
from app.brand_scope import BrandScope, brand_by_slug
from app.errors import error_response, json_errors
from app.runtime import member_secret
from codegen.codeformat import MAX_BATCH_ID, MAX_SERIAL
from codegen.db import transaction
from rules.backtest import backtest
from rules.campaign import InvalidCampaign, Problem
from rules.campaign_changes import audit_state
from rules.campaign_listing import batch_brand
from rules.campaign_store import (
    CampaignNotFound,
    clone_campaign,
    compile_row,
    create_campaign,
    delete_campaign,
    get_campaign,
    list_campaigns,
    set_status,
    update_campaign,
)
from rules.coupons import upload_coupons
from rules.idempotency import MAX_KEY_LENGTH
from rules.matcher import ScanContext
from rules.members import TOKEN_SECONDS, InvalidMemberToken, Member, issue_member_token, validate_member
from rules.models import Campaign
from rules.publish import (
    NOTE_MAX,
    Publication,
    UnknownVersion,
    brand_campaign_count,
    current_version,
    list_versions,
    pending_diff,
    publish_rules,
    rollback_rules,
)
from rules.region import default_index
from rules.scan import NotGenuine, Scanner
from rules.simulate import SimulatedMember, simulate_scan, simulation_context

bp = Blueprint("rules_api", __name__, url_prefix="/api/v1")
json_errors(bp)

# Ids are SQL INTEGER (PostgreSQL's int4): a larger one names nothing, so it is a 404 before it reaches
# the driver (SQLite raises OverflowError beyond 64 bits, PostgreSQL "out of range").
SQL_INT_MAX = (1 << 31) - 1


@bp.url_value_preprocessor
def ids_in_sql_range(endpoint: str | None, values: dict[str, Any] | None) -> None:
    # Checked here rather than with int(max=...) in the rule: werkzeug turns a converter's refusal into
    # a 405 when another method's rule has the same path.
    for name, value in (values or {}).items():
        if isinstance(value, int) and value > SQL_INT_MAX:
            raise CampaignNotFound(f"no {name.replace('_', ' ')} {value}")


@bp.before_request
def require_api_token() -> Any:
    """A personal API token (`yima_pat_…`, scoped to a brand and role) or the platform YIMA_OPS_TOKEN."""
    principal, refused = authenticate_bearer()
    if refused:
        resp, status = error_response(429, "too_many_attempts", f"too many wrong tokens; retry in {refused} s")
        resp.headers["Retry-After"] = str(refused)
        return resp, status
    if principal is None:
        resp, status = error_response(401, "unauthorized", "send Authorization: Bearer <your API token>")
        resp.headers["WWW-Authenticate"] = 'Bearer realm="yima-ops"'
        return resp, status
    return None


def _sessions() -> Any:
    return current_app.extensions["yima.db"].sessions


# -- tenancy: every route acts for the caller's brands only --------------------------------------------

def _caller() -> Principal:
    who = api_principal_or_none()
    assert who is not None  # require_api_token ran
    return who


def _operator() -> Principal:
    """The caller, when they may operate in some brand: analysts read, and get 403 on every write."""
    who = _caller()
    if who.brands_where("operate") == frozenset():
        abort(403, description="your role allows reading only (analyst)")
    return who


def _campaign_in_scope(session: Any, campaign_id: int, need: str) -> Campaign:
    """The campaign, when the caller may `need` (read / operate) in its brand. Another brand's id reads
    exactly like a missing one (same 404, same message); a role too low is 403."""
    row = get_campaign(session, campaign_id)
    if not _caller().may(row.brand_id, "read"):
        raise CampaignNotFound(f"no campaign {campaign_id}")
    if not _caller().may(row.brand_id, need):
        abort(403, description="your role in this brand does not allow this")
    return row


def _audit(session: Any, action: str, row: Campaign, before: Any = None, after: Any = None) -> None:
    """The change in the audit log, in the same transaction as the change."""
    record_change(session, _caller().actor, action, f"campaign:{row.id}", brand_id=row.brand_id,
                  before=before, after=after)


def _redis() -> Any:
    return current_app.extensions["yima.redis"]


def _nul_places(value: Any, where: str = "") -> list[str]:
    """Where a NUL character hides in a JSON document (keys included): PostgreSQL text cannot hold one."""
    if isinstance(value, str):
        return [where or "body"] if "\x00" in value else []
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    places = []
    for key, child in items:
        place = f"{where}.{key}" if where and isinstance(key, str) else f"{where}[{key}]" if where else str(key)
        places += ([place] if isinstance(key, str) and "\x00" in key else []) + _nul_places(child, place)
    return places


def _body(*fields: str, optional: bool = False) -> dict[str, Any]:
    """The JSON object sent, with only `fields` when given (a misspelt field is an error, not ignored);
    `optional`: no body at all reads as {}. NUL characters are refused anywhere in it."""
    body = request.get_json(silent=True) if request.get_data() or not optional else {}
    if not isinstance(body, dict):
        raise InvalidCampaign([Problem("", "the body must be a JSON object")])
    problems = [Problem(k, "unknown field") for k in sorted(body.keys() - set(fields))] if fields else []
    problems += [Problem(p, "must not contain NUL characters") for p in _nul_places(body)]
    if problems:
        raise InvalidCampaign(problems[:20])
    return body


def campaign_json(row: Campaign) -> dict[str, Any]:
    return {
        "id": row.id,
        "name": row.name,
        "status": row.status,
        "edit_version": row.edit_version,
        "definition": row.definition,
        "updated_at": _utc(row.updated_at).isoformat() if row.updated_at else None,
    }


def _utc(moment: datetime) -> datetime:
    """SQLite hands back the UTC time it was given without its offset; PostgreSQL keeps it."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@bp.get("/campaigns")
def campaigns_index() -> Any:
    with _sessions()() as s:
        readable = [c for c in list_campaigns(s) if _caller().may(c.brand_id, "read")]
        return jsonify({"campaigns": [campaign_json(c) for c in readable]})


# Visible ASCII: what an HTTP header carries unchanged (a UUID, a form nonce).
_IDEMPOTENCY_KEY = re.compile(rf"[!-~]{{1,{MAX_KEY_LENGTH}}}")


def _idempotency_key() -> str | None:
    key = request.headers.get("Idempotency-Key")
    if key is not None and not _IDEMPOTENCY_KEY.fullmatch(key):
        raise InvalidCampaign([Problem("Idempotency-Key", f"must be 1-{MAX_KEY_LENGTH} visible ASCII characters "
                                                          "(e.g. a UUID)")])
    return key


def _key_owner() -> str:
    """Whose idempotency keys these are: the user behind the token (or the platform token)."""
    who = api_principal_or_none()
    return f"user:{who.user_id}" if who is not None and who.user_id is not None else "platform"


@bp.post("/campaigns")
def campaigns_create() -> Any:
    """Create a draft. With `Idempotency-Key`, a repeat within 24 h answers 200 with the same campaign."""
    who = _operator()
    body, key = _body(), _idempotency_key()
    with transaction(_sessions()) as s:
        created = create_campaign(s, body, default_index(), idempotency_key=key, owner=_key_owner(),
                                  brand_ids=who.brands_where("operate"))
        if not created.replayed:
            _audit(s, "campaign.create", created.campaign, after=audit_state(created.campaign))
        return jsonify(campaign_json(created.campaign)), 200 if created.replayed else 201


@bp.post("/campaigns/<int:campaign_id>/clone")
def campaigns_clone(campaign_id: int) -> Any:
    """A new draft with this campaign's definition (optional {"name": ...}); `Idempotency-Key` as on create."""
    with transaction(_sessions()) as s:
        source = _campaign_in_scope(s, campaign_id, "operate")
        name, key = _body("name", optional=True).get("name"), _idempotency_key()
        if name is not None and not isinstance(name, str):
            raise InvalidCampaign([Problem("name", "must be 1-200 characters")])
        created = clone_campaign(s, campaign_id, default_index(), name=name, idempotency_key=key,
                                 owner=_key_owner(), brand_ids=_caller().brands_where("operate"))
        if not created.replayed:
            record_change(s, _caller().actor, "campaign.clone", f"campaign:{created.campaign.id}",
                          brand_id=source.brand_id, after=audit_state(created.campaign),
                          note=f"from campaign:{source.id}")
        return jsonify(campaign_json(created.campaign)), 200 if created.replayed else 201


@bp.get("/campaigns/<int:campaign_id>")
def campaigns_show(campaign_id: int) -> Any:
    with _sessions()() as s:
        return jsonify(campaign_json(_campaign_in_scope(s, campaign_id, "read")))


@bp.put("/campaigns/<int:campaign_id>")
def campaigns_update(campaign_id: int) -> Any:
    """The new definition plus the `edit_version` it was made on; 409 edit_conflict if that moved on."""
    with transaction(_sessions()) as s:
        before = copy.deepcopy(audit_state(_campaign_in_scope(s, campaign_id, "operate")))
        body = _body()
        version = body.pop("edit_version", None)
        if isinstance(version, bool) or not isinstance(version, int):
            raise InvalidCampaign([Problem("edit_version", "is required: the edit_version of the campaign as you read "
                                                           "it (a whole number), so that no one else's edit is "
                                                           "overwritten")])
        row = update_campaign(s, campaign_id, body, default_index(), edit_version=version,
                              brand_ids=_caller().brands_where("operate"))
        _audit(s, "campaign.update", row, before, audit_state(row))
        return jsonify(campaign_json(row))


@bp.delete("/campaigns/<int:campaign_id>")
def campaigns_delete(campaign_id: int) -> Any:
    with transaction(_sessions()) as s:
        row = _campaign_in_scope(s, campaign_id, "operate")
        _audit(s, "campaign.delete", row, before=copy.deepcopy(audit_state(row)))
        delete_campaign(s, campaign_id)
    return "", 204


@bp.post("/campaigns/<int:campaign_id>/status")
def campaigns_status(campaign_id: int) -> Any:
    with transaction(_sessions()) as s:
        row = _campaign_in_scope(s, campaign_id, "operate")
        before = row.status
        row = set_status(s, campaign_id, str(_body("status").get("status")), default_index())
        _audit(s, "campaign.status", row, {"status": before}, {"status": row.status})
        return jsonify(campaign_json(row))


@bp.post("/campaigns/<int:campaign_id>/backtest")
def campaigns_backtest(campaign_id: int) -> Any:
    """Replay stored scans of a period against this campaign (any status): would-be awards and cost."""
    body = _body("from", "to", "seed")
    start, end = _instant(body.get("from"), "from"), _instant(body.get("to"), "to")
    seed = body.get("seed", 0)
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise InvalidCampaign([Problem("seed", "must be a whole number")])
    with _sessions()() as s:
        compiled = compile_row(s, _campaign_in_scope(s, campaign_id, "read"), default_index())
        report = backtest(s, compiled, start, end, seed)
    return jsonify({"campaign_id": campaign_id, "from": start.isoformat(), "to": end.isoformat(), "seed": seed,
                    **report.as_dict(compiled)})


@bp.post("/campaigns/<int:campaign_id>/prizes/<int:prize_index>/coupons")
def campaigns_coupons(campaign_id: int, prize_index: int) -> Any:
    """Upload coupon codes for a coupon prize (up to 10,000 per call; duplicates are skipped)."""
    with transaction(_sessions()) as s:
        row = _campaign_in_scope(s, campaign_id, "operate")
        result = upload_coupons(s, _redis(), campaign_id, prize_index, _body("codes").get("codes"))
        _audit(s, "campaign.coupons", row, after={"prize": prize_index, "added": result.added,
                                                  "duplicates": result.duplicates, "pool_size": result.pool_size})
    return jsonify({"added": result.added, "duplicates": result.duplicates, "pool_size": result.pool_size}), 201


@bp.post("/members/tokens")
def members_token() -> Any:
    """Issue a member token (for a brand's membership system, or for testing): member_id, tier, tags,
    joined_at (ISO; default now). The consumer's app sends it as `member_token` with each scan."""
    _operator()
    body = _body("member_id", "tier", "tags", "joined_at")
    member_id, tier, tags = body.get("member_id"), body.get("tier"), body.get("tags", [])
    try:
        joined = _instant(body["joined_at"], "joined_at").timestamp() if "joined_at" in body else time.time()
        if not isinstance(member_id, str) or (tier is not None and not isinstance(tier, str)) \
                or not isinstance(tags, list):
            raise InvalidMemberToken("member_id (string), tier (string) and tags (list) are expected")
        validate_member(member_id, tier, tags)
    except (InvalidMemberToken, ValueError, TypeError) as exc:
        raise InvalidCampaign([Problem("member", str(exc))]) from None
    member = Member(member_id, tier, frozenset(tags), joined)
    token = issue_member_token(member_secret(current_app.config["YIMA"]), member)
    return jsonify({"member_token": token, "expires_in": TOKEN_SECONDS}), 201


_ABSENT = object()


def _rules_brand(slug: Any, need: str) -> BrandScope | None:
    """The brand a rules call is about: required for a brand's token, optional (None: every brand) for the
    platform. Another brand, or an unknown slug, is 404; an analyst asking to change anything, 403."""
    who = api_principal_or_none()
    assert who is not None  # require_api_token ran first
    if slug is _ABSENT:
        if who.platform_admin:
            return None
        raise InvalidCampaign([Problem("brand", "name the brand by its slug, e.g. {\"brand\": \"demo\"}")])
    if not isinstance(slug, str):
        raise InvalidCampaign([Problem("brand", "must be a brand slug (a string)")])
    return brand_by_slug(slug, need, who)


def _query_brand() -> Any:
    """The `brand` of a GET's query string; any other parameter is refused, like an unknown body field."""
    unknown = sorted(set(request.args) - {"brand"})
    if unknown:
        raise InvalidCampaign([Problem(k[:40], "unknown query parameter") for k in unknown[:20]])
    return request.args.get("brand", _ABSENT)


def _note(value: Any) -> str:
    if not isinstance(value, str) or len(value) > NOTE_MAX:
        raise InvalidCampaign([Problem("note", "give the body as {\"note\": a string of at most 200 characters}")])
    return value


def _audit_publish(s: Any, action: str, brand: BrandScope | None, done: Publication, note: str) -> None:
    who = api_principal_or_none()
    record_change(s, who.actor if who else "?", action, f"rules_version:{done.version.version}",
                  brand_id=brand.id if brand else None, after=done.diff.as_dict(), note=note)


def _version_json(row: Any, brand_id: int | None) -> dict[str, Any]:
    return {"version": row.version, "campaigns": brand_campaign_count(row, brand_id),
            "all_campaigns": row.campaign_count, "note": row.note, "brand_id": row.brand_id,
            "actor": row.actor, "created_at": row.created_at.isoformat()}


@bp.post("/rules/publish")
def rules_publish() -> Any:
    """Publish the brand's active campaigns (the platform without `brand`: every brand's)."""
    body = _body("note", "brand", optional=True)
    note = _note(body.get("note", ""))
    brand = _rules_brand(body.get("brand", _ABSENT), "operate")
    with transaction(_sessions()) as s:
        done = publish_rules(s, _redis(), default_index(), note, brand_id=brand.id if brand else None,
                             actor=api_principal_or_none().actor)  # type: ignore[union-attr]
        _audit_publish(s, "rules.publish", brand, done, note)
        return jsonify({"version": done.version.version, "campaigns": done.version.campaign_count,
                        "diff": done.diff.as_dict()})


@bp.post("/rules/rollback")
def rules_rollback() -> Any:
    """A brand: a new version with its campaigns as in `version`; the platform: `version` made current."""
    body = _body("version", "brand", "note")
    version = body.get("version")
    if isinstance(version, bool) or not isinstance(version, int):
        raise InvalidCampaign([Problem("version", "must be a rules version number")])
    note = _note(body.get("note", ""))
    brand = _rules_brand(body.get("brand", _ABSENT), "operate")
    if not 1 <= version <= SQL_INT_MAX:
        raise UnknownVersion(f"no rules version {version}")
    with transaction(_sessions()) as s:
        done = rollback_rules(s, _redis(), version, brand_id=brand.id if brand else None, note=note,
                              actor=api_principal_or_none().actor)  # type: ignore[union-attr]
        _audit_publish(s, "rules.rollback", brand, done, note or f"rollback to {version}")
        return jsonify({"version": done.version.version, "campaigns": done.version.campaign_count,
                        "rolled_back_to": version, "diff": done.diff.as_dict()})


@bp.get("/rules/versions")
def rules_versions() -> Any:
    brand = _rules_brand(_query_brand(), "read")
    brand_id = brand.id if brand else None
    with _sessions()() as s:
        rows = list_versions(s, brand_id=brand_id)
        return jsonify({
            "current": current_version(_redis()),
            "versions": [_version_json(r, brand_id) for r in rows],
        })


@bp.get("/rules/diff")
def rules_pending_diff() -> Any:
    """What publishing the brand now would change against the live version (nothing is changed)."""
    brand = _rules_brand(_query_brand(), "read")
    with _sessions()() as s:
        return jsonify(pending_diff(s, _redis(), brand.id if brand else None).as_dict())


# JSON Schema's (RFC 3339) date-time: a date, a time and an offset. fromisoformat alone also takes a bare
# date or a naive time, whose meaning (UTC? the server's zone?) the caller could not know.
_DATE_TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?"
                        r"([Zz]|[+-][0-9]{2}:[0-9]{2})")


def _instant(value: Any, field: str) -> datetime:
    try:
        if not isinstance(value, str) or not _DATE_TIME.fullmatch(value):
            raise ValueError(value)
        moment = datetime.fromisoformat(value.upper())
        moment.astimezone(UTC)  # year 1 at +14:00 is year 0 in UTC: refused here, not later in a reply
    except (ValueError, OverflowError):
        raise InvalidCampaign([Problem(field, "must be a date-time with its offset, e.g. 2026-12-01T00:00:00+08:00 "
                                              "(years 1-9999 in UTC)")]) from None
    return moment


def _whole(value: Any, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def _simulated_member(raw: Any) -> SimulatedMember | None:
    """`member`: absent/null (not a member) or {tier: string|null, tags: [string], new: bool}."""
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise InvalidCampaign([Problem("member", "must be an object: {tier, tags, new}")])
    problems = [Problem(f"member.{k}", "unknown field") for k in sorted(raw.keys() - {"tier", "tags", "new"})]
    tier, tags, new = raw.get("tier"), raw.get("tags", []), raw.get("new", False)
    if tier is not None and not isinstance(tier, str):
        problems.append(Problem("member.tier", "must be a string or null"))
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        problems.append(Problem("member.tags", "must be a list of strings"))
    if not isinstance(new, bool):
        problems.append(Problem("member.new", "must be true or false"))
    if problems:
        raise InvalidCampaign(problems)
    return SimulatedMember(tier, frozenset(tags), new)


def _simulation_context(body: dict[str, Any], session: Any) -> ScanContext:
    scanner: Scanner = current_app.extensions["yima.scanner"]
    problems: list[Problem] = []
    code, adcode, at = body.get("code"), body.get("adcode"), body.get("at")
    batch_id, serial, role = body.get("batch_id"), body.get("serial", 0), body.get("role", "inner")
    if code is not None and not isinstance(code, str):
        problems.append(Problem("code", "must be a string"))
    if code is None and not _whole(batch_id, 0, MAX_BATCH_ID):
        problems.append(Problem("batch_id", f"give a code, or batch_id (0-{MAX_BATCH_ID}) + serial + role"))
    if not _whole(serial, 0, MAX_SERIAL):
        problems.append(Problem("serial", f"must be a whole number 0-{MAX_SERIAL}"))
    if role not in ("inner", "outer"):
        problems.append(Problem("role", "must be inner or outer"))
    if adcode is not None and not isinstance(adcode, str):
        problems.append(Problem("adcode", "must be a six-digit GB/T 2260 code"))
    if at is not None and not isinstance(at, str):
        problems.append(Problem("at", "must be an ISO date-time"))
    if problems:
        raise InvalidCampaign(problems)
    member = _simulated_member(body.get("member"))
    if isinstance(code, str):
        try:
            _code, fields, _facts = scanner.identify(code)
        except NotGenuine as exc:
            raise InvalidCampaign([Problem("code", f"not a genuine code ({exc.reason})")]) from None
        batch_id, serial, role = fields.batch_id, fields.serial, fields.role.label
    brand_id = batch_brand(session, batch_id)
    if brand_id is None or not _caller().may(brand_id, "read"):  # another brand's batch: unknown
        raise InvalidCampaign([Problem("batch_id", f"unknown batch {batch_id}")])
    now = _instant(at, "at").timestamp() if at is not None else time.time()
    return simulation_context(session, default_index(), batch_id=batch_id, serial=serial, role=role, now=now,
                              adcode=adcode, member=member)


@bp.post("/simulate")
def simulate() -> Any:
    """Which campaigns a scan would take part in, why, and the odds. Consumes nothing.

    Campaigns are compiled from SQL (drafts included, each verdict names its status), so a campaign can
    be tried before it is activated and published.
    """
    body = _body("code", "batch_id", "serial", "role", "adcode", "at", "member")
    with _sessions()() as s:
        ctx = _simulation_context(body, s)
        result = simulate_scan(s, ctx, default_index())
    return jsonify({
        "context": {"batch_id": ctx.batch_id, "serial": ctx.serial, "role": ctx.role, "adcode": ctx.adcode,
                    "tier": ctx.tier, "at": datetime.fromtimestamp(ctx.now, UTC).isoformat()},
        "campaigns": result.verdicts,
        "invalid_campaigns": result.invalid,
        "consumed": False,
    })
