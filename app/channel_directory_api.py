"""Distributors, stores, channel staff and the channel policy through the API (/api/v1/channel).

Any token of the brand reads what its scope sees (a brand token the whole brand, a seat's token its own
part: a distributor its subtree, a store itself); only operators' and admins' tokens write. The platform
token names the brand with `?brand=<slug>`. The body is checked here for its shape (a JSON object with
only the documented fields); the domain checks each value and says which field is wrong (400,
`error.field`). Another brand's id, or one outside a seat's part, is 404 like a missing one.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, current_app, jsonify, request

from app.channel_access import api_scope
from app.errors import json_errors
from app.rules_api import SQL_INT_MAX, require_api_token
from channel import directory, staff
from channel.directory import UNSET, DistributorView, Policy, StoreView
from channel.errors import ChannelNotFound, InvalidChannel
from channel.staff import StaffView
from codegen.db import transaction

bp = Blueprint("channel_directory_api", __name__, url_prefix="/api/v1/channel")
bp.before_request(require_api_token)
json_errors(bp)

DISTRIBUTOR_FIELDS = ("code", "name", "territory", "parent_id", "contact", "disabled")
STORE_FIELDS = ("name", "adcode", "distributor_id", "address", "lat", "lng", "registered", "disabled")
STAFF_FIELDS = ("email", "name", "password", "kind", "distributor_id", "store_id")
POLICY_FIELDS = ("require_registration", "voucher_face_fen", "redeem_rebate_fen")


@bp.url_value_preprocessor
def ids_in_sql_range(endpoint: str | None, values: dict[str, Any] | None) -> None:
    for name, value in (values or {}).items():
        if isinstance(value, int) and value > SQL_INT_MAX:
            raise ChannelNotFound(f"no {name.removesuffix('_id')} {value}")


def _sessions() -> Any:
    return current_app.extensions["yima.db"].sessions


def _body(fields: tuple[str, ...]) -> dict[str, Any]:
    """The JSON object sent, holding only `fields` (a misspelt field is an error, not ignored)."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise InvalidChannel("body: must be a JSON object", "body")
    unknown = sorted(body.keys() - set(fields))
    if unknown:
        raise InvalidChannel(f"{unknown[0][:40]}: unknown field", unknown[0][:40])
    return body


def _iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).isoformat()  # SQLite: naive UTC


def distributor_json(v: DistributorView) -> dict[str, Any]:
    return {"id": v.id, "code": v.code, "name": v.name, "territory": v.territory,
            "territory_names": v.territory_names, "parent_id": v.parent_id, "tier": v.tier, "contact": v.contact,
            "disabled": v.disabled, "stores": v.stores, "created_at": _iso(v.created_at)}


def store_json(v: StoreView) -> dict[str, Any]:
    return {"id": v.id, "name": v.name, "adcode": v.adcode, "place": v.place, "address": v.address,
            "lat": v.lat, "lng": v.lng, "distributor_id": v.distributor_id,
            "registered_at": _iso(v.registered_at), "registered_case": v.registered_case, "disabled": v.disabled,
            "created_at": _iso(v.created_at)}


def staff_json(v: StaffView) -> dict[str, Any]:
    return {"user_id": v.user_id, "email": v.email, "name": v.name, "kind": v.kind,
            "distributor_id": v.distributor_id, "store_id": v.store_id, "where": v.where, "disabled": v.disabled,
            "last_login_at": _iso(v.last_login_at), "created_at": _iso(v.created_at)}


def policy_json(p: Policy) -> dict[str, Any]:
    return {**p.audited(), "updated_at": _iso(p.updated_at)}


# -- distributors -----------------------------------------------------------------------------------------

@bp.get("/distributors")
def list_distributors() -> Any:
    scope = api_scope()
    with _sessions()() as s:
        return jsonify({"distributors": [distributor_json(v) for v in directory.list_distributors(s, scope)]})


@bp.post("/distributors")
def create_distributor() -> Any:
    scope = api_scope()
    body = _body(DISTRIBUTOR_FIELDS[:-1])
    with transaction(_sessions()) as s:
        view = directory.create_distributor(s, scope, code=body.get("code"), name=body.get("name"),
                                            territory=body.get("territory"), parent_id=body.get("parent_id"),
                                            contact=body.get("contact", ""))
    return jsonify(distributor_json(view)), 201


@bp.get("/distributors/<int:distributor_id>")
def get_distributor(distributor_id: int) -> Any:
    scope = api_scope()
    with _sessions()() as s:
        return jsonify(distributor_json(directory.distributor_view(s, scope, distributor_id)))


@bp.patch("/distributors/<int:distributor_id>")
def update_distributor(distributor_id: int) -> Any:
    scope = api_scope()
    body = _body(DISTRIBUTOR_FIELDS)
    with transaction(_sessions()) as s:
        view = directory.update_distributor(s, scope, distributor_id,
                                            **{f: body.get(f, UNSET) for f in DISTRIBUTOR_FIELDS})
    return jsonify(distributor_json(view))


# -- stores -----------------------------------------------------------------------------------------------

def _distributor_filter() -> int | None:
    value = request.args.get("distributor")
    if value is None:
        return None
    if not (value.isascii() and value.isdigit() and len(value) <= 10 and 0 < int(value) <= SQL_INT_MAX):
        raise InvalidChannel("distributor: a distributor id", "distributor")
    return int(value)


@bp.get("/stores")
def list_stores() -> Any:
    scope = api_scope()
    supplier = _distributor_filter()
    with _sessions()() as s:
        return jsonify({"stores": [store_json(v) for v in directory.list_stores(s, scope, distributor_id=supplier)]})


@bp.post("/stores")
def create_store() -> Any:
    scope = api_scope()
    body = _body(STORE_FIELDS[:-1])
    with transaction(_sessions()) as s:
        view = directory.create_store(s, scope, name=body.get("name"), adcode=body.get("adcode"),
                                      distributor_id=body.get("distributor_id"), address=body.get("address", ""),
                                      lat=body.get("lat"), lng=body.get("lng"),
                                      registered=body.get("registered", False))
    return jsonify(store_json(view)), 201


@bp.get("/stores/<int:store_id>")
def get_store(store_id: int) -> Any:
    scope = api_scope()
    with _sessions()() as s:
        return jsonify(store_json(directory.store_view(s, scope, store_id)))


@bp.patch("/stores/<int:store_id>")
def update_store(store_id: int) -> Any:
    scope = api_scope()
    body = _body(STORE_FIELDS)
    with transaction(_sessions()) as s:
        view = directory.update_store(s, scope, store_id, **{f: body.get(f, UNSET) for f in STORE_FIELDS})
    return jsonify(store_json(view))


# -- staff and policy -------------------------------------------------------------------------------------

@bp.get("/staff")
def list_staff() -> Any:
    scope = api_scope()
    with _sessions()() as s:
        return jsonify({"staff": [staff_json(v) for v in staff.list_staff(s, scope)]})


@bp.post("/staff")
def add_staff() -> Any:
    scope = api_scope()
    body = _body(STAFF_FIELDS)
    with transaction(_sessions()) as s:
        added = staff.add_staff(s, scope, email=body.get("email"), name=body.get("name", ""),
                                password=body.get("password", ""), kind=body.get("kind"),
                                distributor_id=body.get("distributor_id"), store_id=body.get("store_id"))
        view = next(v for v in staff.list_staff(s, scope) if v.user_id == added.user_id)
    resp = jsonify({**staff_json(view), "password": added.password})
    resp.headers["Cache-Control"] = "no-store"  # a generated password is in it, shown this once
    return resp, 201


@bp.get("/policy")
def get_policy() -> Any:
    scope = api_scope()
    with _sessions()() as s:
        return jsonify(policy_json(directory.get_policy(s, scope.brand_id)))


@bp.put("/policy")
def set_policy() -> Any:
    scope = api_scope()
    body = _body(POLICY_FIELDS)
    with transaction(_sessions()) as s:
        policy = directory.set_policy(s, scope, require_registration=body.get("require_registration"),
                                      voucher_face_fen=body.get("voucher_face_fen"),
                                      redeem_rebate_fen=body.get("redeem_rebate_fen"))
    return jsonify(policy_json(policy))
