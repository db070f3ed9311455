"""Registers the channel's blueprints: the /dist phone pages, the /ops/channel console pages and the
/api/v1/channel API (one module per room; see each module's docstring)."""

from __future__ import annotations

import importlib

from flask import Flask

# The Bearer-token JSON API: no cookie, so no CSRF to forge (app/__init__.py exempts the other APIs).
API_MODULES = ("shipments_api", "channel_directory_api", "lookup_api", "diversion_api", "settlement_api")
MODULES = ("dist_views", "dist_ship_views", "ops_channel_views", "dist_lookup_views", "dist_diversion_views",
           "dist_redeem_views", "dist_settlement_views", "dist_bside_views", "shipments_api",
           "channel_directory_api", "lookup_api", "diversion_api", "settlement_api")


def init_app(app: Flask) -> None:
    from app.auth import csrf

    for name in MODULES:
        bp = importlib.import_module(f"app.{name}").bp
        app.register_blueprint(bp)
        if name in API_MODULES:
            csrf.exempt(bp)
