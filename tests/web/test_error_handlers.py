"""Each blueprint answers the domain errors it lets through once: in the JSON error shape for the APIs, with
the error page for pages (app/errors.py); statuses come from the error's kind, never from the view."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from flask import Blueprint, Flask

from app.errors import json_answer, json_errors, page_answer, page_errors
from codegen.errors import DomainError
from rules.campaign import InvalidCampaign, Problem
from rules.campaign_store import CampaignNotFound, EditConflict
from rules.enumeration import SourceBlocked
from rules.scan import ScanUnavailable
from tests.web.conftest import make_app

JSON_BLUEPRINTS = {"api", "rules_api", "audit_api", "payouts_api", "risk_api", "payout_notify", "health", "bench",
                   "shipments_api", "channel_directory_api", "lookup_api", "diversion_api", "settlement_api"}


def test_every_blueprint_registers_one_domain_error_handler(tmp_path: Path, redis_client) -> None:  # type: ignore[no-untyped-def]
    app = make_app(tmp_path, bench_endpoints=True)
    assert set(app.blueprints) > JSON_BLUEPRINTS
    for name in app.blueprints:
        handlers = app.error_handler_spec[name][None]
        assert list(handlers) == [DomainError], name  # one handler, for the root of every domain error
        assert handlers[DomainError] is (json_answer if name in JSON_BLUEPRINTS else page_answer), name


def _raising(exc: Exception) -> Callable[[], Any]:
    def view() -> Any:
        raise exc
    return view


def _raising_app(tmp_path: Path) -> Flask:
    app = make_app(tmp_path)
    api, pages = Blueprint("t_api", __name__, url_prefix="/api/t"), Blueprint("t_pages", __name__, url_prefix="/t")
    json_errors(api)
    page_errors(pages)
    raised = {
        "blocked": SourceBlocked(7),
        "unavailable": ScanUnavailable("key file /srv/secret/keys.json is missing"),
        "invalid": InvalidCampaign([Problem("name", "must be 1-200 characters"), Problem("budget", "is required")]),
        "edited": EditConflict(5, current=3, sent=2),
        "missing": CampaignNotFound("no campaign 9"),
    }
    for bp in (api, pages):
        for name, exc in raised.items():
            bp.add_url_rule(f"/{name}", name, _raising(exc))
    app.register_blueprint(api)
    app.register_blueprint(pages)
    return app


def test_the_json_shape_with_the_status_of_the_kind(tmp_path: Path, redis_client) -> None:  # type: ignore[no-untyped-def]
    client = _raising_app(tmp_path).test_client()
    res = client.get("/api/t/blocked")
    assert res.status_code == 429 and res.headers["Retry-After"] == "7"
    assert res.get_json() == {"error": {"code": "too_many_invalid_codes",
                                        "message": "too many invalid codes from this source; retry in 7 s"}}
    res = client.get("/api/t/unavailable")
    assert res.status_code == 503 and "Retry-After" not in res.headers
    assert res.get_json() == {"error": {"code": "unavailable",
                                        "message": "verification is temporarily unavailable; retry shortly"}}
    res = client.get("/api/t/invalid")
    assert res.status_code == 400
    assert res.get_json()["error"] == {
        "code": "invalid_campaign", "message": "name: must be 1-200 characters; budget: is required",
        "problems": [{"field": "name", "message": "must be 1-200 characters"},
                     {"field": "budget", "message": "is required"}]}
    res = client.get("/api/t/edited")
    assert res.status_code == 409
    assert res.get_json()["error"]["code"] == "edit_conflict"
    assert res.get_json()["error"]["current_edit_version"] == 3
    res = client.get("/api/t/missing")
    assert (res.status_code, res.get_json()) == (404, {"error": {"code": "not_found", "message": "no campaign 9"}})


def test_a_page_blueprint_answers_with_the_error_page(tmp_path: Path, redis_client) -> None:  # type: ignore[no-untyped-def]
    client = _raising_app(tmp_path).test_client()
    res = client.get("/t/missing", headers={"Accept": "application/json"})  # the blueprint decides, not Accept
    assert res.status_code == 404 and res.mimetype == "text/html"
    assert "no campaign 9" in res.get_data(as_text=True) and "Not Found" in res.get_data(as_text=True)
    res = client.get("/t/unavailable")
    page = res.get_data(as_text=True)
    assert res.status_code == 503 and "/srv/secret" not in page and "temporarily unavailable" in page
    res = client.get("/t/blocked")
    assert res.status_code == 429 and res.headers["Retry-After"] == "7"
