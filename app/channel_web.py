"""Registers the channel's blueprints: the /dist phone pages, the /ops/channel console pages and the
/api/v1/channel API (one module per room; see each module's docstring)."""

from __future__ import annotations

import importlib

from flask import Flask

MODULES = ("dist_views", "dist_ship_views", "ops_channel_views", "dist_lookup_views", "dist_diversion_views",
           "dist_redeem_views", "dist_settlement_views", "dist_bside_views", "shipments_api",
           "channel_directory_api", "lookup_api", "diversion_api", "settlement_api")


def init_app(app: Flask) -> None:
    for name in MODULES:
        app.register_blueprint(importlib.import_module(f"app.{name}").bp)
