"""The site's root: headquarters now works in the console (/ops/), which has its own sign-in."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, redirect, url_for

bp = Blueprint("catalog", __name__)


@bp.get("/")
def root() -> Any:
    return redirect(url_for("ops_auth.home"))
