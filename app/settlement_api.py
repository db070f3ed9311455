"""Voucher 核销, the store ledger and settlement statements through the API (Bearer: a clerk's seat token
redeems; brand tokens read and settle; the platform token names the brand with ?brand=).

    POST /api/v1/channel/redemptions                {"token"}: redeem (201) or 409 redeem_refused
    GET  /api/v1/channel/redemptions                the caller's stores' redemptions, newest first
    GET  /api/v1/channel/statements                 statements, newest first
    POST /api/v1/channel/statements                 {"period_start", "period_end", "store_id"?}: close a period
    GET  /api/v1/channel/statements/<id>            one statement with its lines
    POST /api/v1/channel/statements/<id>/settle     mark it paid
    GET  /api/v1/channel/statements/<id>.csv        the statement as CSV
    GET  /api/v1/channel/reconciliation             the brand's redemptions against the awards ledger
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request, stream_with_context

from app.channel_access import api_scope
from app.errors import json_errors
from app.rules_api import SQL_INT_MAX, require_api_token
from app.voucher_panel import app_voucher_key
from channel.errors import ChannelNotFound, InvalidChannel
from channel.models import StoreStatement, VoucherRedemption
from channel.settlement import (
    MAX_PAGE,
    LedgerRow,
    Reconciliation,
    brand_reconciliation,
    close_period,
    get_statement,
    list_statements,
    settle,
    statement_csv,
    statement_lines,
)
from channel.vouchers import Redemption, aware, list_redemptions, redeem, token_from_text

bp = Blueprint("settlement_api", __name__, url_prefix="/api/v1/channel")
bp.before_request(require_api_token)
json_errors(bp)


@bp.url_value_preprocessor
def ids_in_sql_range(endpoint: str | None, values: dict[str, Any] | None) -> None:
    for name, value in (values or {}).items():
        if isinstance(value, int) and value > SQL_INT_MAX:
            raise ChannelNotFound(f"no {name.replace('_', ' ')} {value}")


def _sessions() -> Any:
    return current_app.extensions["yima.db"].sessions


def _body(*fields: str) -> dict[str, Any]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise InvalidChannel("the body must be a JSON object")
    unknown = sorted(body.keys() - set(fields))
    if unknown:
        raise InvalidChannel(f"unknown field {unknown[0]!r}", unknown[0])
    return body


def _int_arg(name: str, low: int, high: int, default: int | None = None) -> int | None:
    raw = request.args.get(name)
    if raw is None:
        return default
    if not raw.isascii() or not raw.isdigit() or len(raw) > 10 or not low <= int(raw) <= high:
        raise InvalidChannel(f"{name} must be a whole number {low}-{high}", name)
    return int(raw)


def _iso(moment: datetime | None) -> str | None:
    return aware(moment).isoformat() if moment is not None else None


def redemption_json(r: VoucherRedemption | Redemption) -> dict[str, Any]:
    if isinstance(r, Redemption):
        return {"award_id": r.award_id, "store_id": r.store_id, "store": r.store_name,
                "redeemed_at": _iso(r.redeemed_at), "face_fen": r.face_fen, "rebate_fen": r.rebate_fen,
                "total_fen": r.total_fen, "ledger_line_id": r.ledger_line_id}
    return {"award_id": r.award_id, "store_id": r.store_id, "campaign_id": r.campaign_id, "code": r.code,
            "staff_user_id": r.staff_user_id, "redeemed_at": _iso(r.redeemed_at)}


def statement_json(st: StoreStatement, store_name: str) -> dict[str, Any]:
    return {"id": st.id, "store_id": st.store_id, "store": store_name, "period_start": st.period_start.isoformat(),
            "period_end": st.period_end.isoformat(), "state": st.state, "lines": st.lines, "face_fen": st.face_fen,
            "rebate_fen": st.rebate_fen, "total_fen": st.total_fen, "created_at": _iso(st.created_at),
            "created_by": st.created_by, "settled_at": _iso(st.settled_at), "settled_by": st.settled_by}


def line_json(r: LedgerRow) -> dict[str, Any]:
    line = r.line
    return {"id": line.id, "store_id": line.store_id, "kind": line.kind, "source": line.source, "code": r.code,
            "face_fen": line.face_fen, "rebate_fen": line.rebate_fen, "total_fen": r.total_fen,
            "at": _iso(line.at), "statement_id": line.statement_id}


def reconciliation_json(rec: Reconciliation) -> dict[str, Any]:
    return {"brand_id": rec.brand_id, "ok": rec.ok, "voucher_awards": rec.voucher_awards,
            "redeemed_awards": rec.redeemed_awards, "redemptions": rec.redemptions,
            "ledger_lines": rec.ledger_lines, "face_fen": rec.face_fen, "rebate_fen": rec.rebate_fen,
            "pending_fen": rec.pending_fen, "settled_fen": rec.settled_fen, "unassigned_fen": rec.unassigned_fen,
            "discrepancies": [{"kind": d.kind, "ref": d.ref, "detail": d.detail} for d in rec.discrepancies]}


@bp.post("/redemptions")
def redemptions_create() -> Any:
    scope = api_scope()
    token = _body("token").get("token")
    if not isinstance(token, str) or not token.strip():
        raise InvalidChannel("token: the voucher QR's URL or its token", "token")
    done = redeem(_sessions(), scope, token_from_text(token), datetime.now(UTC), key=app_voucher_key())
    return jsonify(redemption_json(done)), 201


def _cursor(raw: str | None) -> tuple[datetime, str] | None:
    if not raw:
        return None
    at, sep, award_id = raw.partition("~")
    try:
        moment = datetime.fromisoformat(at)
    except ValueError:
        moment = None
    if not sep or moment is None or not award_id or len(raw) > 120:
        raise InvalidChannel("before: the next_before of the previous page", "before")
    return aware(moment).astimezone(UTC), award_id


@bp.get("/redemptions")
def redemptions_index() -> Any:
    scope = api_scope()
    limit = _int_arg("limit", 1, MAX_PAGE, 50) or 50
    with _sessions()() as s:
        rows = list_redemptions(s, scope, limit=limit, before=_cursor(request.args.get("before")))
        last = rows[-1] if len(rows) == limit else None
        return jsonify({"redemptions": [redemption_json(r) for r in rows],
                        "next_before": f"{_iso(last.redeemed_at)}~{last.award_id}" if last else None})


@bp.get("/statements")
def statements_index() -> Any:
    scope = api_scope()
    state = request.args.get("state")
    if state is not None and state not in (StoreStatement.PENDING, StoreStatement.SETTLED):
        raise InvalidChannel("state is pending or settled", "state")
    limit = _int_arg("limit", 1, MAX_PAGE, 50) or 50
    with _sessions()() as s:
        rows = list_statements(s, scope, state=state, store_id=_int_arg("store_id", 1, SQL_INT_MAX),
                               limit=limit, before_id=_int_arg("before_id", 1, SQL_INT_MAX))
        return jsonify({"statements": [statement_json(st, store.name) for st, store in rows],
                        "next_before_id": rows[-1][0].id if len(rows) == limit else None})


def _day(body: dict[str, Any], name: str) -> date:
    value = body.get(name)
    try:
        if not isinstance(value, str) or len(value) != 10:
            raise ValueError
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidChannel(f"{name}: a date, YYYY-MM-DD", name) from None


@bp.post("/statements")
def statements_close() -> Any:
    scope = api_scope()
    body = _body("period_start", "period_end", "store_id")
    store_id = body.get("store_id")
    if store_id is not None and (not isinstance(store_id, int) or isinstance(store_id, bool)
                                 or not 1 <= store_id <= SQL_INT_MAX):
        raise InvalidChannel("store_id: a store's id", "store_id")
    start, end = _day(body, "period_start"), _day(body, "period_end")
    with _sessions().begin() as s:
        closed = close_period(s, scope, start, end, store_id, now=datetime.now(UTC))
        names = {st.store_id: get_statement(s, scope, st.id)[1].name for st in closed.statements}
        return jsonify({"period_start": start.isoformat(), "period_end": end.isoformat(),
                        "added_lines": closed.added_lines, "held_back": closed.held_back,
                        "statements": [statement_json(st, names[st.store_id]) for st in closed.statements]})


@bp.get("/statements/<int:statement_id>")
def statements_show(statement_id: int) -> Any:
    scope = api_scope()
    with _sessions()() as s:
        st, store = get_statement(s, scope, statement_id)
        lines = statement_lines(s, scope, statement_id)
        return jsonify({**statement_json(st, store.name), "items": [line_json(r) for r in lines]})


@bp.post("/statements/<int:statement_id>/settle")
def statements_settle(statement_id: int) -> Any:
    scope = api_scope()
    with _sessions().begin() as s:
        st = settle(s, scope, statement_id, datetime.now(UTC))
        return jsonify(statement_json(st, get_statement(s, scope, st.id)[1].name))


@bp.get("/statements/<int:statement_id>.csv")
def statements_export(statement_id: int) -> Any:
    scope = api_scope()
    s = _sessions()()
    try:
        rows = statement_csv(s, scope, statement_id)
    except Exception:
        s.close()
        raise

    def lines() -> Any:
        try:
            yield from rows
        finally:
            s.close()

    resp = Response(stream_with_context(lines()), mimetype="text/csv")
    resp.headers["Content-Disposition"] = f'attachment; filename="yima-statement-{statement_id}.csv"'
    resp.headers["Cache-Control"] = "no-store"
    return resp


@bp.get("/reconciliation")
def reconciliation() -> Any:
    scope = api_scope()
    with _sessions()() as s:
        return jsonify(reconciliation_json(brand_reconciliation(s, scope)))
