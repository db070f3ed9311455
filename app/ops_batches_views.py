"""A brand's production batches in the console: list, details, activation and void ranges, scans per batch.

Activation and voiding go through the same domain functions as `codegen activate` / `codegen void`
(codegen/batches.py): the SQL history row and the Redis state the scan path reads. Each is audited.
Operators and admins change; analysts read (a forced POST is 403); another brand's batch is 404.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for

from accounts.audit import record_change
from accounts.roles import Principal
from app.auth import current_principal, login_required, require_brand, tr
from app.brand_scope import BrandScope, page_brand
from app.console_time import local_time
from app.errors import page_errors
from codegen import batches as catalog
from codegen.db import transaction
from codegen.models import Batch, BatchRange
from codegen.ranges import RangeError, format_ranges, merge, subtract, total
from reports.batch_scans import KINDS, ScanCounts, scans_by_batch

bp = Blueprint("ops_batches", __name__, url_prefix="/ops/batches")
page_errors(bp)
SQL_INT_MAX = (1 << 31) - 1
REASON_MAX = 200


def _sessions() -> Any:
    return current_app.extensions["yima.db"].sessions


def _redis() -> Any:
    return current_app.extensions["yima.redis"]


@dataclass(frozen=True)
class BatchView:
    id: int
    brand_slug: str
    sku: str
    product: str
    lot: str
    factory: str
    line: str
    production_date: str
    quantity: int
    pack: int
    status: str
    active: str
    void: str
    live: int  # serials on sale and not void
    voided: int
    scans: ScanCounts


@dataclass(frozen=True)
class HistoryRow:
    when: str
    kind: str
    serials: str
    count: int
    reason: str


def _state(batch: Batch) -> dict[str, str]:
    active, void = catalog.effective_ranges(batch)
    return {"active": format_ranges(active), "void": format_ranges(void)}


def _view(batch: Batch, scans: ScanCounts) -> BatchView:
    active, void = catalog.effective_ranges(batch)
    product = batch.product
    return BatchView(
        batch.id, product.brand.slug, product.sku, product.name, batch.lot, batch.factory, batch.line,
        batch.production_date.isoformat() if batch.production_date else "", batch.quantity, batch.pack_size,
        batch.status, format_ranges(active), format_ranges(void), total(subtract(active, void)),
        total(merge(void)), scans,
    )


def _history(batch: Batch) -> list[HistoryRow]:
    return [HistoryRow(local_time(r.created_at), r.kind,
                       f"{r.first_serial}-{r.last_serial}" if r.first_serial != r.last_serial else str(r.first_serial),
                       r.last_serial - r.first_serial + 1, r.reason) for r in reversed(batch.ranges)]


@bp.get("")
@login_required
def index() -> Any:
    brand = page_brand("ops_batches.index")
    if not isinstance(brand, BrandScope):
        return brand
    with _sessions()() as s:
        rows = catalog.list_batches(s, brand_id=brand.id)
        scans = scans_by_batch(s, [b.id for b in rows])
        views = [_view(b, scans[b.id]) for b in rows]
    return render_template("ops/batches/index.html", brand=brand, batches=views, kinds=KINDS)


def _batch_brand(batch_id: int, need: str) -> tuple[int, Principal]:
    """The batch's brand id and the caller, when they may `need` there (else 404 / 403)."""
    if batch_id > SQL_INT_MAX:
        abort(404)
    with _sessions()() as s:
        batch = s.get(Batch, batch_id)
        if batch is None:
            abort(404)
        brand_id = batch.product.brand_id
    return brand_id, require_brand(brand_id, need, current_principal())


def _detail(batch_id: int, *, errors: dict[str, str] | None = None, form: dict[str, str] | None = None,
            status: int = 200) -> Any:
    brand_id, who = _batch_brand(batch_id, "read")
    with _sessions()() as s:
        batch = s.get(Batch, batch_id)
        assert batch is not None
        view = _view(batch, scans_by_batch(s, [batch_id])[batch_id])
        history = _history(batch)
        brand_name = batch.product.brand.name
    return render_template("ops/batches/detail.html", batch=view, history=history, brand_name=brand_name,
                           can_operate=who.may(brand_id, "operate"), kinds=KINDS, errors=errors or {},
                           form=form or {}), status


@bp.get("/<int:batch_id>")
@login_required
def detail(batch_id: int) -> Any:
    return _detail(batch_id)


def _change(batch_id: int, action: str) -> Any:
    brand_id, who = _batch_brand(batch_id, "operate")
    serials = request.form.get("range", "").strip()[:40]
    reason = request.form.get("reason", "").strip()
    form = {"action": action, "range": serials, "reason": reason[:REASON_MAX]}
    errors: dict[str, str] = {}
    if action == BatchRange.VOID:
        if not serials:
            errors["range"] = tr("请填写要作废的码段，例如 1200-1299。", "Give the serials to void, e.g. 1200-1299.")
        if not reason:
            errors["reason"] = tr("请填写作废原因。", "Say why (damaged roll, recall …).")
    if len(reason) > REASON_MAX or "\x00" in reason:
        errors["reason"] = tr(f"原因最多 {REASON_MAX} 个字符。", f"At most {REASON_MAX} characters.")
    if errors:
        return _detail(batch_id, errors=errors, form=form, status=400)
    try:
        with transaction(_sessions()) as s:
            before = _state(catalog.get_batch(s, batch_id))
            if action == BatchRange.ACTIVATE:
                batch = catalog.activate(s, _redis(), batch_id, serials or None)
            else:
                batch = catalog.void(s, _redis(), batch_id, serials, reason)
            record_change(s, who.actor, f"batch.{action}", f"batch:{batch_id}", brand_id=brand_id,
                          before=before, after={**_state(batch), "range": serials or "all"}, note=reason)
    except (RangeError, catalog.CatalogError) as exc:
        return _detail(batch_id, errors={"range": str(exc)}, form=form, status=400)
    done = serials or tr("整批", "the whole batch")
    flash(tr(f"已激活 {done}。", f"Activated {done}.") if action == BatchRange.ACTIVATE
          else tr(f"已作废 {done}。", f"Voided {done}."), "ok")
    return redirect(url_for("ops_batches.detail", batch_id=batch_id), 303)


@bp.post("/<int:batch_id>/activate")
@login_required
def activate(batch_id: int) -> Any:
    return _change(batch_id, BatchRange.ACTIVATE)


@bp.post("/<int:batch_id>/void")
@login_required
def void(batch_id: int) -> Any:
    return _change(batch_id, BatchRange.VOID)
