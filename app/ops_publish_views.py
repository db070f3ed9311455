"""Publish a brand's rules from the console: the pending diff, a note, publish; versions and rollback.

Operators and admins publish and roll back; analysts see the same pages without the buttons (a forced
POST is 403). A rollback goes through a confirmation page, so it works without JavaScript.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for

from accounts.audit import record_change
from app.auth import login_required, tr
from app.brand_scope import BrandScope, brand_by_slug, page_brand
from app.console_time import local_time
from app.diff_display import diff_view
from app.errors import page_errors
from codegen.db import transaction
from rules.campaign import InvalidCampaign, Problem
from rules.publish import (
    NOTE_MAX,
    Publication,
    PublishConflict,
    UnknownVersion,
    brand_campaign_count,
    current_version,
    list_versions,
    pending_diff,
    publish_rules,
    rollback_preview,
    rollback_rules,
)
from rules.region import default_index

bp = Blueprint("ops_publish", __name__, url_prefix="/ops/publish")
page_errors(bp)


def _sessions() -> Any:
    return current_app.extensions["yima.db"].sessions


def _redis() -> Any:
    return current_app.extensions["yima.redis"]


@dataclass(frozen=True)
class VersionRow:
    version: int
    when: str
    actor: str
    note: str
    campaigns: int
    platform: bool
    live: bool


def _who(actor: str) -> str:
    """The audit actor ("user:12 a@b.example") as a person reads it: the e-mail."""
    return actor.split(" ", 1)[1] if actor.startswith("user:") and " " in actor else actor or "—"


def _versions(brand: BrandScope) -> list[VersionRow]:
    live = current_version(_redis())
    with _sessions()() as s:
        return [VersionRow(r.version, local_time(r.created_at), _who(r.actor), r.note,
                           brand_campaign_count(r, brand.id), r.brand_id is None, r.version == live)
                for r in list_versions(s, 30, brand_id=brand.id)]


def _page(brand: BrandScope, *, note: str = "", problems: list[Problem] | None = None, status: int = 200) -> Any:
    with _sessions()() as s:
        diff = pending_diff(s, _redis(), brand.id)
    return render_template("ops/publish/index.html", brand=brand, diff=diff_view(diff), versions=_versions(brand),
                           can_publish=brand.may("operate"), note=note, problems=problems or []), status


def _note() -> tuple[str, list[Problem]]:
    note = request.form.get("note", "").strip()
    if len(note) > NOTE_MAX or "\x00" in note:
        too_long = tr(f"备注最多 {NOTE_MAX} 个字符。", f"At most {NOTE_MAX} characters.")
        return note[:NOTE_MAX], [Problem("note", too_long)]
    return note, []


def _audit(s: Any, action: str, brand: BrandScope, done: Publication, note: str) -> None:
    record_change(s, brand.principal.actor, action, f"rules_version:{done.version.version}", brand_id=brand.id,
                  after=done.diff.as_dict(), note=note)


@bp.get("")
@login_required
def index() -> Any:
    brand = page_brand("ops_publish.index")
    if not isinstance(brand, BrandScope):
        return brand
    return _page(brand)


@bp.post("")
@login_required
def publish() -> Any:
    brand = brand_by_slug(request.form.get("brand", ""), "operate")
    note, problems = _note()
    if problems:
        return _page(brand, note=note, problems=problems, status=400)
    try:
        with transaction(_sessions()) as s:
            done = publish_rules(s, _redis(), default_index(), note, brand_id=brand.id, actor=brand.principal.actor)
            _audit(s, "rules.publish", brand, done, note)
    except InvalidCampaign as exc:
        return _page(brand, note=note, problems=exc.problems, status=400)
    except PublishConflict as exc:
        flash(tr("发布未完成：其间有其他发布生效，请核对新的变更后再发布。", "Not published: another publish went "
                 "live meanwhile; check the new diff and publish again.") + f" ({exc})", "error")
        return redirect(url_for("ops_publish.index", brand=brand.slug), 303)
    flash(tr(f"已发布版本 {done.version.version}。", f"Published version {done.version.version}."), "ok")
    return redirect(url_for("ops_publish.index", brand=brand.slug), 303)


@bp.get("/rollback/<int:version>")
@login_required
def confirm_rollback(version: int) -> Any:
    brand = brand_by_slug(request.args.get("brand", ""), "operate")
    try:
        with _sessions()() as s:
            diff = rollback_preview(s, _redis(), version, brand.id)
    except UnknownVersion:
        abort(404, description=tr(f"没有版本 {version}。", f"There is no version {version}."))
    return render_template("ops/publish/rollback.html", brand=brand, version=version, diff=diff_view(diff),
                           problems=[], note="")


@bp.post("/rollback/<int:version>")
@login_required
def rollback(version: int) -> Any:
    brand = brand_by_slug(request.form.get("brand", ""), "operate")
    note, problems = _note()
    if problems:
        try:
            with _sessions()() as s:
                diff = rollback_preview(s, _redis(), version, brand.id)
        except UnknownVersion:
            abort(404)
        return render_template("ops/publish/rollback.html", brand=brand, version=version, diff=diff_view(diff),
                               problems=problems, note=note), 400
    try:
        with transaction(_sessions()) as s:
            done = rollback_rules(s, _redis(), version, brand_id=brand.id, note=note, actor=brand.principal.actor)
            _audit(s, "rules.rollback", brand, done, done.version.note)
    except UnknownVersion:
        abort(404, description=tr(f"没有版本 {version}。", f"There is no version {version}."))
    except PublishConflict:
        flash(tr("回滚未完成：其间有其他发布生效，请再试一次。", "Not rolled back: another publish went live "
                 "meanwhile; try again."), "error")
        return redirect(url_for("ops_publish.index", brand=brand.slug), 303)
    flash(tr(f"已回滚到版本 {version}（新版本 {done.version.version}）。",
             f"Rolled back to version {version} (new version {done.version.version})."), "ok")
    return redirect(url_for("ops_publish.index", brand=brand.slug), 303)
