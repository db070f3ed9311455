"""The site's root: headquarters now works in the console (/ops/), which has its own sign-in."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, redirect, url_for

from app.errors import page_errors

bp = Blueprint("catalog", __name__)
page_errors(bp)


@bp.get("/")
def root() -> Any:
    return redirect(url_for("ops_auth.home"))
