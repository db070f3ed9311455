"""The OpenAPI document covers the whole /api/v1 surface, is a valid OpenAPI 3.1 document, and says what
the validator says about a campaign definition (schemathesis, tests/web/test_schemathesis.py, then holds
every response to it)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from flask import Flask
from openapi_spec_validator import validate

from app.openapi import OPENAPI
from rules.campaign import SECTION_FIELDS, TOP_FIELDS
from tests.web.conftest import make_app

PUBLIC = {("post", "/api/v1/scans"), ("get", "/api/v1/openapi.json")}  # the consumer's scan, and this document
CONVERTER = re.compile(r"<(?:\w+(?:\([^)]*\))?:)?(\w+)>")


def api_routes(app: Flask) -> set[tuple[str, str]]:
    """Every (method, OpenAPI path) the app answers under /api/v1."""
    routes = set()
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/v1/") or rule.rule == "/api/v1":
            path = CONVERTER.sub(r"{\1}", rule.rule)
            routes |= {(m.lower(), path) for m in (rule.methods or set()) - {"HEAD", "OPTIONS"}}
    return routes


def documented() -> set[tuple[str, str]]:
    return {(method, path) for path, item in OPENAPI["paths"].items() if path.startswith("/api/v1/")
            for method in item if method in ("get", "put", "post", "delete", "patch")}


@pytest.fixture
def app(tmp_path: Path) -> Flask:
    return make_app(tmp_path, with_keys=False, bench_endpoints=False)


def test_every_api_route_is_in_the_document_and_nothing_else_is(app: Flask) -> None:
    # A route added to /api/v1 without its OpenAPI entry fails here, whoever adds it.
    routes = api_routes(app)
    assert routes, "no /api/v1 routes found"
    assert sorted(routes - documented()) == [], "routes missing from app/openapi.py"
    assert sorted(documented() - routes) == [], "documented routes the app does not have"


def test_the_document_is_valid_openapi_3_1() -> None:
    validate(OPENAPI)
    assert OPENAPI["openapi"].startswith("3.1")


def test_every_operation_names_its_security_and_its_errors() -> None:
    schemes = OPENAPI["components"]["securitySchemes"]
    assert schemes["personalToken"]["scheme"] == schemes["opsToken"]["scheme"] == "bearer"
    assert "yima_pat_" in schemes["personalToken"]["bearerFormat"]
    assert "YIMA_OPS_TOKEN" in schemes["opsToken"]["description"]
    for method, path in documented():
        op = OPENAPI["paths"][path][method]
        assert op.get("operationId"), (method, path)
        if (method, path) not in PUBLIC:
            assert op["security"] == [{"personalToken": []}, {"opsToken": []}], (method, path)
            assert {"401", "429", "503"} <= set(op["responses"]), (method, path)
        for status, response in op["responses"].items():
            if status.startswith(("4", "5")):
                schema = response["content"]["application/json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/Error"}, (method, path, status)


def test_the_definition_schema_has_the_validators_fields() -> None:
    schema = OPENAPI["components"]["schemas"]["CampaignDefinition"]
    assert list(schema["properties"]) == list(TOP_FIELDS)
    assert schema["additionalProperties"] is False
    for section, fields in SECTION_FIELDS.items():
        sub = schema["properties"][section]
        sub = sub["items"] if sub.get("type") == "array" else sub
        assert list(sub["properties"]) == list(fields), section
        assert sub["additionalProperties"] is False, section


def resolved(name: str) -> dict[str, Any]:
    return {**OPENAPI["components"]["schemas"][name], "components": OPENAPI["components"]}


@pytest.mark.parametrize(
    "broken",
    [
        {"region": {"include": ["44"]}},
        {"prizes": []},
        {"prizes": [{"kind": "cash", "min_fen": 100, "weight": 2}]},
        {"regions": {"include": []}},
        {"window": {"start": "2026-12-01T00:00:00+08:00"}},
        {"members": {"tier_multipliers": {"gold": 0}}},
        {"window": {"start": "2026-12-01T00:00:00+08:00", "end": "2027-01-01T00:00:00+08:00",
                    "daily_hours": ["8:00", "22:00"]}},
    ],
)
def test_the_definition_schema_refuses_what_the_validator_refuses(broken: dict[str, Any]) -> None:
    from tests.integration.test_campaign_store import definition

    doc = {**definition(), **broken}
    schema = {"$ref": "#/components/schemas/CampaignDefinition", "components": OPENAPI["components"]}
    jsonschema.validate(definition(), schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(doc, schema)
