"""The editor's live parts: the cost preview (htmx posts the form on change), the region picker's
children, and the product / batch pickers of the chosen brand."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import abort, jsonify, render_template, request

from app.campaign_form import form_to_definition, read_form
from app.ops_campaigns import bp, principal, sessions
from rules import campaign_listing as listing
from rules.cost_preview import preview_cost
from rules.region_tree import region_children


@bp.post("/preview")
def preview() -> Any:
    doc, _ = form_to_definition(read_form(request.form))
    return render_template("ops/campaigns/_preview.html", preview=preview_cost(doc, now=datetime.now(UTC)))


@bp.get("/regions")
def regions() -> Any:
    parent = request.args.get("parent", "")
    if parent and not (parent.isascii() and parent.isdigit() and len(parent) in (2, 4)):
        abort(404)
    return jsonify([{"prefix": c.prefix, "name": c.name, "has_children": c.has_children}
                    for c in region_children(parent)])


@bp.get("/pickers")
def pickers() -> Any:
    """The scope pickers for `brand` (the editor swaps them in when the brand changes)."""
    with sessions()() as s:
        brand = listing.brand_by_slug(s, request.args.get("brand", ""))
        if brand is None or not principal().may(brand.id, "read"):
            abort(404)
        catalogue = listing.catalogue(s, brand.id)
    form = read_form(request.args)
    return render_template("ops/campaigns/_pickers.html", catalogue=catalogue, form=form, errors={})
