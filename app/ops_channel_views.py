"""The channel in the console (/ops/channel): distributors (territories, tiers), stores, channel staff and the
brand's channel policy.

Each page reads the brand's channel through channel/directory.py and channel/staff.py with the caller's
scope (brand staff see the whole brand); operators and admins change it, analysts read (a forced POST is
403); another brand's id is 404, and so is every page for channel staff, who have no console. A refusal of
the domain is shown at the form that caused it (400, or 409 for a taken code or e-mail), in Chinese first.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, redirect, render_template, request, url_for

from app import ops_channel_people
from app.auth import login_required
from app.console_format import console_helpers
from app.errors import page_errors
from app.ops_channel_forms import (
    field,
    form_errors,
    id_field,
    ids_in_sql_range,
    listing_scope,
    number_field,
    owner_scope,
    seat_kind,
    sessions,
    territory_field,
    tier_label,
    yuan,
)
from channel import directory, staff
from channel.errors import ChannelError
from channel.models import Distributor, Store
from channel.scope import ChannelScope
from codegen.db import transaction

bp = Blueprint("ops_channel", __name__, url_prefix="/ops/channel")
page_errors(bp)
bp.context_processor(console_helpers)
bp.add_app_template_filter(seat_kind, "seat_kind")
bp.add_app_template_filter(tier_label, "tier")
bp.add_app_template_filter(yuan, "yuan")
bp.url_value_preprocessor(ids_in_sql_range)
bp.register_blueprint(ops_channel_people.bp)  # staff and policy: /ops/channel/staff, /ops/channel/policy


@bp.get("")
@login_required
def index() -> Any:
    return redirect(url_for("ops_channel.distributors", **request.args), 302)


# -- distributors -----------------------------------------------------------------------------------------

@bp.get("/distributors")
@login_required
def distributors() -> Any:
    found = listing_scope("ops_channel.distributors")
    if not isinstance(found, tuple):
        return found
    brand, scope = found
    with sessions()() as s:
        rows = directory.list_distributors(s, scope)
    return render_template("ops/channel/distributors.html", brand=brand, scope=scope, rows=rows, tab="distributors")


def _distributor_form(brand: Any, scope: ChannelScope, *, view: Any = None, form: dict[str, Any] | None = None,
                      errors: dict[str, str] | None = None, status: int = 200) -> Any:
    with sessions()() as s:
        parents = [d for d in directory.list_distributors(s, scope) if view is None or d.id != view.id]
        children = [d for d in directory.list_distributors(s, scope) if view is not None and d.parent_id == view.id]
        stores = directory.list_stores(s, scope, distributor_id=view.id) if view is not None else []
        seats = [v for v in staff.list_staff(s, scope) if view is not None and v.distributor_id == view.id]
    if form is None and view is not None:
        form = {"code": view.code, "name": view.name, "territory": " ".join(view.territory),
                "parent_id": view.parent_id or "", "contact": view.contact}
    return render_template("ops/channel/distributor.html", brand=brand, scope=scope, view=view, parents=parents,
                           children=children, stores=stores, seats=seats, form=form or {}, errors=errors or {},
                           tab="distributors"), status


@bp.get("/distributors/new")
@login_required
def new_distributor() -> Any:
    found = listing_scope("ops_channel.new_distributor")
    if not isinstance(found, tuple):
        return found
    return _distributor_form(*found, form={"parent_id": request.args.get("parent", "")})


@bp.post("/distributors")
@login_required
def create_distributor() -> Any:
    found = listing_scope("ops_channel.distributors")
    if not isinstance(found, tuple):
        abort(404)
    brand, scope = found
    form = {n: field(n) for n in ("code", "name", "territory", "parent_id", "contact")}
    try:
        with transaction(sessions()) as s:
            view = directory.create_distributor(s, scope, code=form["code"], name=form["name"],
                                                territory=territory_field(), parent_id=id_field("parent_id"),
                                                contact=form["contact"])
    except ChannelError as exc:
        refused, status = form_errors(exc)
        return _distributor_form(brand, scope, form=form, errors=refused, status=status)
    return redirect(url_for("ops_channel.distributor", distributor_id=view.id), 303)


@bp.get("/distributors/<int:distributor_id>")
@login_required
def distributor(distributor_id: int) -> Any:
    brand, scope = owner_scope(Distributor, distributor_id)
    with sessions()() as s:
        view = directory.distributor_view(s, scope, distributor_id)
    return _distributor_form(brand, scope, view=view)


@bp.post("/distributors/<int:distributor_id>")
@login_required
def update_distributor(distributor_id: int) -> Any:
    brand, scope = owner_scope(Distributor, distributor_id)
    form = {n: field(n) for n in ("code", "name", "territory", "parent_id", "contact")}
    try:
        with transaction(sessions()) as s:
            directory.update_distributor(s, scope, distributor_id, code=form["code"], name=form["name"],
                                         territory=territory_field(), parent_id=id_field("parent_id"),
                                         contact=form["contact"], disabled=bool(request.form.get("disabled")))
    except ChannelError as exc:
        refused, status = form_errors(exc)
        with sessions()() as s:
            view = directory.distributor_view(s, scope, distributor_id)
        return _distributor_form(brand, scope, view=view, form=form, errors=refused, status=status)
    return redirect(url_for("ops_channel.distributor", distributor_id=distributor_id, saved=1), 303)


# -- stores -----------------------------------------------------------------------------------------------

@bp.get("/stores")
@login_required
def stores() -> Any:
    found = listing_scope("ops_channel.stores")
    if not isinstance(found, tuple):
        return found
    brand, scope = found
    supplier = request.args.get("distributor", "")
    with sessions()() as s:
        rows = directory.list_stores(s, scope, distributor_id=int(supplier) if supplier.isdigit()
                                     and len(supplier) <= 9 else None)
    return render_template("ops/channel/stores.html", brand=brand, scope=scope, rows=rows, tab="stores")


def _store_form(brand: Any, scope: ChannelScope, *, view: Any = None, form: dict[str, Any] | None = None,
                errors: dict[str, str] | None = None, status: int = 200) -> Any:
    with sessions()() as s:
        suppliers = directory.list_distributors(s, scope)
        seats = [v for v in staff.list_staff(s, scope) if view is not None and v.store_id == view.id]
    if form is None and view is not None:
        form = {"name": view.name, "adcode": view.adcode, "distributor_id": view.distributor_id,
                "address": view.address, "lat": "" if view.lat is None else view.lat,
                "lng": "" if view.lng is None else view.lng, "registered": view.registered_at is not None}
    return render_template("ops/channel/store.html", brand=brand, scope=scope, view=view, suppliers=suppliers,
                           seats=seats, form=form or {}, errors=errors or {}, tab="stores"), status


def _store_fields() -> dict[str, Any]:
    return {"name": field("name"), "adcode": field("adcode").strip(), "distributor_id": id_field("distributor_id"),
            "address": field("address"), "lat": number_field("lat"), "lng": number_field("lng"),
            "registered": bool(request.form.get("registered"))}


def _shown(fields: dict[str, Any]) -> dict[str, Any]:
    """The form as typed, to fill it in again after a refusal."""
    return {**{k: "" if v is None else v for k, v in fields.items()}, "lat": field("lat"), "lng": field("lng")}


@bp.get("/stores/new")
@login_required
def new_store() -> Any:
    found = listing_scope("ops_channel.new_store")
    if not isinstance(found, tuple):
        return found
    return _store_form(*found, form={"distributor_id": request.args.get("distributor", "")})


@bp.post("/stores")
@login_required
def create_store() -> Any:
    found = listing_scope("ops_channel.stores")
    if not isinstance(found, tuple):
        abort(404)
    brand, scope = found
    fields = _store_fields()
    try:
        with transaction(sessions()) as s:
            view = directory.create_store(s, scope, **fields)
    except ChannelError as exc:
        refused, status = form_errors(exc)
        return _store_form(brand, scope, form=_shown(fields), errors=refused, status=status)
    return redirect(url_for("ops_channel.store", store_id=view.id), 303)


@bp.get("/stores/<int:store_id>")
@login_required
def store(store_id: int) -> Any:
    brand, scope = owner_scope(Store, store_id)
    with sessions()() as s:
        view = directory.store_view(s, scope, store_id)
    return _store_form(brand, scope, view=view)


@bp.post("/stores/<int:store_id>")
@login_required
def update_store(store_id: int) -> Any:
    brand, scope = owner_scope(Store, store_id)
    fields = _store_fields()
    try:
        with transaction(sessions()) as s:
            directory.update_store(s, scope, store_id, **fields, disabled=bool(request.form.get("disabled")))
    except ChannelError as exc:
        refused, status = form_errors(exc)
        with sessions()() as s:
            view = directory.store_view(s, scope, store_id)
        return _store_form(brand, scope, view=view, form=_shown(fields), errors=refused, status=status)
    return redirect(url_for("ops_channel.store", store_id=store_id, saved=1), 303)
