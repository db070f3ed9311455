"""A store's reimbursement ledger and settlement statements; the brand settles them.

    GET  /dist/settlement                            the ledger lines not yet in a statement, the statements
                                                     (a clerk: its store's; a distributor: its stores'; brand
                                                     staff: all, with "close a period" and the reconciliation)
    POST /dist/settlement/close                      close a period: a statement per store (brand operators)
    GET  /dist/settlement/statements/<id>            one statement and its lines
    POST /dist/settlement/statements/<id>/settle     mark it paid (brand operators)
    GET  /dist/settlement/statements/<id>.csv        the statement as CSV (Excel opens it, Chinese included)
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from flask import (
    Blueprint,
    Response,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    stream_with_context,
    url_for,
)

from app.auth import login_required, tr
from app.channel_access import page_scope
from app.errors import page_errors
from channel.errors import InvalidChannel
from channel.scope import BRAND
from channel.settlement import (
    CHINA,
    brand_reconciliation,
    close_period,
    get_statement,
    list_lines,
    list_statements,
    outstanding,
    settle,
    statement_csv,
    statement_lines,
)

bp = Blueprint("dist_settlement", __name__, url_prefix="/dist/settlement")
page_errors(bp)


def _sessions() -> Any:
    return current_app.extensions["yima.db"].sessions


def _before_id() -> int | None:
    raw = request.args.get("before_id", "")
    return int(raw) if raw.isdigit() and 0 < len(raw) < 10 else None


@bp.get("")
@login_required
def index() -> Any:
    scope = page_scope()
    state = request.args.get("state") if request.args.get("state") in ("pending", "settled") else None
    today = datetime.now(CHINA).date()
    with _sessions()() as s:
        owed = outstanding(s, scope)
        lines = list_lines(s, scope, unassigned=True, limit=20)
        statements = list_statements(s, scope, state=state, limit=50, before_id=_before_id())
        recon = brand_reconciliation(s, scope) if scope.kind == BRAND else None
    return render_template("dist/settlement_index.html", scope=scope, owed=owed, lines=lines, statements=statements,
                           state=state, recon=recon, period_start=today.replace(day=1), period_end=today)


def _date(name: str) -> date:
    try:
        return date.fromisoformat(request.form.get(name, "")[:10])
    except ValueError:
        raise InvalidChannel(tr("请选择日期", "Pick a date"), name) from None


@bp.post("/close")
@login_required
def close() -> Any:
    scope = page_scope()
    try:
        start, end = _date("period_start"), _date("period_end")
        with _sessions().begin() as s:
            closed = close_period(s, scope, start, end, now=datetime.now(UTC))
            made = [st.id for st in closed.statements]
    except InvalidChannel as exc:
        flash(str(exc), "error")
        return redirect(url_for("dist_settlement.index"))
    if made:
        flash(tr(f"{start} 至 {end}：{len(made)} 张结算单，新增 {closed.added_lines} 条明细。",
                 f"{start} to {end}: {len(made)} statement(s), {closed.added_lines} line(s) added."))
    else:
        flash(tr(f"{start} 至 {end} 没有待结算的明细。", f"No open ledger lines from {start} to {end}."))
    if closed.held_back:
        flash(tr(f"{closed.held_back} 条明细属于已结清的结算单周期，未计入。",
                 f"{closed.held_back} line(s) fall in an already settled statement's period: left out."), "error")
    return redirect(url_for("dist_settlement.statement", statement_id=made[0]) if len(made) == 1
                    else url_for("dist_settlement.index"))


@bp.get("/statements/<int:statement_id>")
@login_required
def statement(statement_id: int) -> Any:
    scope = page_scope()
    with _sessions()() as s:
        st, store = get_statement(s, scope, statement_id)
        lines = statement_lines(s, scope, statement_id)
    return render_template("dist/settlement_statement.html", scope=scope, st=st, store=store, lines=lines)


@bp.post("/statements/<int:statement_id>/settle")
@login_required
def settle_statement(statement_id: int) -> Any:
    scope = page_scope()
    with _sessions().begin() as s:
        st = settle(s, scope, statement_id, datetime.now(UTC))
        total = st.total_fen
    flash(tr(f"结算单 #{statement_id} 已结清：¥{total / 100:.2f}",
             f"Statement #{statement_id} settled: ¥{total / 100:.2f}"))
    return redirect(url_for("dist_settlement.statement", statement_id=statement_id))


@bp.get("/statements/<int:statement_id>.csv")
@login_required
def statement_export(statement_id: int) -> Any:
    scope = page_scope()
    s = _sessions()()
    try:
        rows = statement_csv(s, scope, statement_id)
        st, _ = get_statement(s, scope, statement_id)
        name = f"yima-statement-{st.id}-{st.period_start}-{st.period_end}.csv"
    except Exception:
        s.close()
        raise

    def lines() -> Any:
        try:
            yield from rows
        finally:
            s.close()

    resp = Response(stream_with_context(lines()), mimetype="text/csv")
    resp.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    resp.headers["Cache-Control"] = "no-store"
    return resp
