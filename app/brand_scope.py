"""The brand a console page or an API call is about, named by its slug, checked against the caller's roles.

An unknown slug and a brand the caller may not see read the same (404); a role too low for the action is
403 (see `app.auth.require_brand`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import abort, current_app, redirect, render_template, request, url_for
from sqlalchemy import select

from accounts.roles import Principal
from app.auth import current_principal, require_brand
from codegen.models import Brand


@dataclass(frozen=True)
class BrandScope:
    id: int
    slug: str
    name: str
    principal: Principal

    def may(self, need: str) -> bool:
        return self.principal.may(self.id, need)


def brand_by_slug(slug: str, need: str = "read", principal: Principal | None = None) -> BrandScope:
    """The brand named `slug` when the caller may `need` in it; else 404 (or 403 for a role too low)."""
    if not slug or len(slug) > 40:
        abort(404)
    with current_app.extensions["yima.db"].sessions() as s:
        brand = s.scalar(select(Brand).where(Brand.slug == slug))
        if brand is None:
            abort(404)
        ident = (brand.id, brand.slug, brand.name)
    who = require_brand(ident[0], need, principal)
    return BrandScope(*ident, principal=who)


def readable_brands(principal: Principal) -> list[tuple[str, str]]:
    """(slug, name) of every brand the caller may read, by name."""
    readable = principal.readable_brand_ids()
    with current_app.extensions["yima.db"].sessions() as s:
        query = select(Brand.slug, Brand.name).order_by(Brand.name)
        if readable is not None:
            query = query.where(Brand.id.in_(readable))
        return [(slug, name) for slug, name in s.execute(query)]


def page_brand(endpoint: str, need: str = "read") -> BrandScope | Any:
    """For a console page: the brand named by `?brand=` (or the form's `brand`); with none named, the
    caller's only brand (a redirect to it) or a page to choose one (a response, returned as is)."""
    who = current_principal()
    assert who is not None  # behind login_required
    slug = request.values.get("brand", "")
    if slug:
        return brand_by_slug(slug, need, who)
    brands = readable_brands(who)
    if len(brands) == 1:
        return redirect(url_for(endpoint, brand=brands[0][0]))
    return render_template("ops/choose_brand.html", brands=brands, endpoint=endpoint)
