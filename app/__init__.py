"""yima's application layer: the web app factory, the CLIs (`yima`, `codegen`) and runtime wiring.

Flask is imported inside `create_app`, not at module level, so the factory-side `codegen` CLI (which
lives in this package) starts without loading the web stack.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from app.config import load_config

if TYPE_CHECKING:
    from flask import Flask


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """Build the WSGI app. `test_config` overrides fields of `Config` (e.g. database_url, redis_url)."""
    from flask import Flask
    from werkzeug.middleware.proxy_fix import ProxyFix

    from app import (
        api,
        audit_api,
        auth,
        auth_limits,
        catalog_views,
        channel_web,
        claim_views,
        errors,
        health,
        i18n,
        logging_setup,
        metrics,
        ops_admin_views,
        ops_audit_views,
        ops_auth_views,
        ops_batches_views,
        ops_campaigns,
        ops_dashboard,
        ops_payouts_views,
        ops_publish_views,
        ops_risk_views,
        payout_metrics,
        payout_notify,
        payouts_api,
        risk_api,
        rules_api,
        scan_views,
        security,
        wechat_jssdk,
    )
    from app.payout_services import make_payout_services
    from app.runtime import connect_database, connect_redis, make_scanner, secret_key

    cfg = load_config()
    if test_config:
        cfg = dataclasses.replace(cfg, **test_config)
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=secret_key(cfg),
        MAX_CONTENT_LENGTH=64 * 1024,
        YIMA=cfg,
    )
    app.json.ensure_ascii = False  # type: ignore[attr-defined]  # UTF-8 JSON (Flask 3 ignores JSON_AS_ASCII)
    if cfg.trusted_proxies:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=cfg.trusted_proxies, x_proto=cfg.trusted_proxies)  # type: ignore[method-assign]
    app.extensions["yima.db"] = connect_database(cfg, tolerate_outage=True)  # scans need no SQL to start
    app.extensions["yima.redis"] = connect_redis(cfg)
    # First: the request id and the clock begin before, and end after, every other hook; and the scanner's
    # own Redis connections take the retry policy that counts Redis errors.
    logging_setup.init_app(app)
    metrics.init_app(app)
    app.extensions["yima.scanner"] = make_scanner(cfg, app.extensions["yima.redis"], app.logger)
    app.extensions["yima.payouts"] = make_payout_services(cfg, app.extensions["yima.db"].sessions,
                                                          app.extensions["yima.scanner"])
    app.extensions["yima.redirect_origins"] = (app.extensions["yima.payouts"].oauth_base,)
    errors.init_app(app)
    security.init_app(app)
    auth_limits.init_app(app)
    auth.init_app(app)
    i18n.init_app(app)
    wechat_jssdk.init_app(app)
    app.register_blueprint(health.bp)
    app.register_blueprint(catalog_views.bp)
    app.register_blueprint(scan_views.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(rules_api.bp)
    app.register_blueprint(ops_auth_views.bp)
    app.register_blueprint(ops_campaigns.bp)
    app.register_blueprint(ops_admin_views.bp)
    app.register_blueprint(ops_audit_views.bp)
    app.register_blueprint(audit_api.bp)
    app.register_blueprint(ops_publish_views.bp)
    app.register_blueprint(ops_batches_views.bp)
    app.register_blueprint(ops_dashboard.bp)
    app.register_blueprint(ops_payouts_views.bp)
    app.register_blueprint(payouts_api.bp)
    app.register_blueprint(risk_api.bp)
    app.register_blueprint(ops_risk_views.bp)
    app.register_blueprint(claim_views.bp)
    app.register_blueprint(payout_notify.bp)
    channel_web.init_app(app)
    payout_metrics.init_app(app)
    # The held draw's post is bound to a signed ticket and the device cookie instead (app/scan_views.py).
    auth.csrf.exempt(scan_views.draw_page)
    # WeChat Pay's callbacks carry its RSA signature over the body instead (app/payout_notify.py).
    auth.csrf.exempt(payout_notify.bp)
    # Bearer-authenticated JSON: no cookie, so no CSRF to forge
    for token_api in (api.bp, rules_api.bp, audit_api.bp, payouts_api.bp, risk_api.bp):
        auth.csrf.exempt(token_api)
    if cfg.bench_endpoints:
        from app import bench_views

        app.register_blueprint(bench_views.bp)
        auth.csrf.exempt(bench_views.bp)
    return app
