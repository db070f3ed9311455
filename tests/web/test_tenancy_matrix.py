"""The tenancy matrix: every route that takes an id, called by every role of two brands, on brand a's objects.

    actor of brand b (any role)          → 404, exactly as for an id that does not exist
    actor of brand a, role below `need`  → 403
    actor of brand a, role at or above   → 2xx (3xx for a form that redirects after its POST)

and in every refused case the audit log is untouched, while every accepted write adds to it. API routes are
called with the actor's personal token, pages with the actor's signed-in session (and its CSRF token).
Every case gets fresh objects of its own, so the order the cases run in does not matter.

Pages other helpers are still building are listed with the URL patterns they will use; a case whose route
is not registered yet is skipped with its name, so the matrix tightens itself when the page lands.
"""

from __future__ import annotations

import importlib.util
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.exceptions import MethodNotAllowed, NotFound
from werkzeug.routing import RequestRedirect

from accounts.audit import AuditFilter, count_changes
from accounts.roles import NEEDS, role_at_least
from accounts.tokens import issue_token
from accounts.users import get_user, user_by_email
from codegen import batches, keys
from codegen.db import transaction
from codegen.models import Brand
from rules.campaign_store import create_campaign
from rules.region import default_index
from tests.conftest import REDIS_TEST_URL
from tests.web import conftest as web_conftest
from tests.web.console_support import add_user, csrf_token, login
from tests.web.payout_support import add_payout

ENGINE = importlib.util.find_spec("payouts.engine") is not None
BRANDS = ("a", "b")
ROLES = ("admin", "operator", "analyst")
ACTORS = [(brand, role) for brand in BRANDS for role in ROLES]


@dataclass
class World:
    """Two brands, each with a product, a batch, and a user and a token for every role."""

    app: Flask
    keys_file: Path = Path()
    brand_id: dict[str, int] = field(default_factory=dict)
    batch: dict[str, int] = field(default_factory=dict)
    tokens: dict[tuple[str, str], str] = field(default_factory=dict)
    clients: dict[tuple[str, str], tuple[FlaskClient, str]] = field(default_factory=dict)

    def sessions(self) -> Any:
        return self.app.extensions["yima.db"].sessions

    def campaign_doc(self, brand: str, name: str = "matrix") -> dict[str, Any]:
        return {"name": name, "brand": brand,
                "window": {"start": "2026-01-01T00:00:00+08:00", "end": "2030-01-01T00:00:00+08:00"},
                "scope": {"batches": [self.batch[brand]], "roles": ["inner"]},
                "budget": {"total_fen": 1000}, "prizes": [{"kind": "coupon", "name": "券", "weight": 0.5}]}

    def audit_count(self) -> int:
        with self.sessions()() as s:
            return count_changes(s, AuditFilter())

    def signed_in(self, actor: tuple[str, str]) -> tuple[FlaskClient, str]:
        """The actor's browser: signed in once per module, with its CSRF token."""
        if actor not in self.clients:
            client = self.app.test_client()
            login(client, f"{actor[1]}@{actor[0]}.example")
            self.clients[actor] = client, csrf_token(client, "/ops/")
        return self.clients[actor]


# -- fresh objects of brand a, one set per case ---------------------------------------------------------

def new_campaign(world: World) -> dict[str, Any]:
    with transaction(world.sessions()) as s:
        return {"campaign": create_campaign(s, world.campaign_doc("a", f"matrix {uuid.uuid4().hex[:6]}"),
                                            default_index()).campaign.id}


def new_member(world: World) -> dict[str, Any]:
    return {"user": add_user(world.app, f"member-{uuid.uuid4().hex[:8]}@a.example", "analyst", brand="a")}


def new_token(world: World) -> dict[str, Any]:
    """A token of a brand-a operator who is none of the actors (so no actor revokes it as its owner)."""
    owner = add_user(world.app, f"owner-{uuid.uuid4().hex[:8]}@a.example", "operator", brand="a")
    with transaction(world.sessions()) as s:
        row, _ = issue_token(s, get_user(s, owner), world.brand_id["a"], "operator", "matrix", 5)
        return {"token": row.id}


def the_batch(world: World) -> dict[str, Any]:
    return {"batch": world.batch["a"]}


def new_batch(world: World) -> dict[str, Any]:
    """A batch of brand a of its own (activation and void change it), activated whole."""
    ring, _ = keys.init_keyring(world.keys_file)
    with transaction(world.sessions()) as s:
        brand = s.get(Brand, world.brand_id["a"])
        batch = batches.create_batch(s, brand, batches.BatchRequest(
            sku="SKU-a", lot=f"M{uuid.uuid4().hex[:8]}", count=100, pack=10, production_date=date(2026, 11, 1)),
            key_id=ring.current, max_count=10_000)
        batches.activate(s, world.app.extensions["yima.redis"], batch.id, None)
        return {"batch": batch.id}


def new_payout(state: str) -> Callable[[World], dict[str, Any]]:
    """A payout of brand a of its own in `state` (failed: retry takes it; pending: cancel takes it)."""

    def make(world: World) -> dict[str, Any]:
        with transaction(world.sessions()) as s:
            payout = add_payout(s, world.brand_id["a"], 1, state, 100, prefix=f"m{uuid.uuid4().hex[:12]}")
            return {"payout": payout.id}

    return make


def new_version(world: World) -> dict[str, Any]:
    """A rules version of brand a, published the way an operator of brand a publishes."""
    client = world.app.test_client()
    resp = client.post("/api/v1/rules/publish", json={"note": "matrix", "brand": "a"},
                       headers={"Authorization": f"Bearer {world.tokens[('a', 'operator')]}"})
    assert resp.status_code in (200, 201), resp.get_data(as_text=True)
    return {"version": resp.get_json()["version"]}


# -- the routes ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Route:
    method: str
    path: str  # placeholders: {brand} (always "a"), {campaign}, {batch}, {version}, {user}, {token}, {payout}
    need: str  # read | operate | admin, in brand a
    via: str  # "api" (Bearer token) or "page" (session cookie + CSRF)
    target: Callable[[World], dict[str, Any]]
    body: Callable[[World], dict[str, Any]] | None = None
    builder: str = ""  # who is building it, when it may not be registered yet
    engine: bool = False  # an accepted call runs payouts.engine: skipped there until the engine lands

    @property
    def writes(self) -> bool:
        return self.method != "GET" and self.need != "read"

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


WINDOW = {"from": "2026-01-01T00:00:00+08:00", "to": "2026-02-01T00:00:00+08:00"}
ROUTES = [
    # the ops API
    Route("GET", "/api/v1/campaigns/{campaign}", "read", "api", new_campaign),
    Route("PUT", "/api/v1/campaigns/{campaign}", "operate", "api", new_campaign,
          lambda w: {**w.campaign_doc("a", "renamed"), "edit_version": 1}),
    Route("POST", "/api/v1/campaigns/{campaign}/clone", "operate", "api", new_campaign, lambda w: {}),
    Route("DELETE", "/api/v1/campaigns/{campaign}", "operate", "api", new_campaign),
    Route("POST", "/api/v1/campaigns/{campaign}/status", "operate", "api", new_campaign,
          lambda w: {"status": "active"}),
    Route("POST", "/api/v1/campaigns/{campaign}/backtest", "read", "api", new_campaign, lambda w: WINDOW),
    Route("POST", "/api/v1/campaigns/{campaign}/prizes/0/coupons", "operate", "api", new_campaign,
          lambda w: {"codes": [f"MX-{uuid.uuid4().hex[:10]}"]}),
    Route("GET", "/api/v1/payouts?brand={brand}", "read", "api", lambda w: {}),
    Route("GET", "/api/v1/payouts.csv?brand={brand}", "read", "api", lambda w: {}),
    Route("GET", "/api/v1/payouts/{payout}", "read", "api", new_payout("failed")),
    Route("POST", "/api/v1/payouts/{payout}/retry", "operate", "api", new_payout("failed"), engine=True),
    Route("POST", "/api/v1/payouts/{payout}/cancel", "operate", "api", new_payout("pending"), engine=True),
    # console pages: campaigns (h-editor), dashboard (h-dash), batches and publish (h-publish)
    Route("GET", "/ops/campaigns/{campaign}", "read", "page", new_campaign, builder="h-editor"),
    Route("GET", "/ops/campaigns/{campaign}/edit", "read", "page", new_campaign, builder="h-editor"),
    Route("GET", "/ops/campaigns/{campaign}/status/ended", "operate", "page", new_campaign, builder="h-editor"),
    Route("POST", "/ops/campaigns/{campaign}/status/ended", "operate", "page", new_campaign, lambda w: {},
          builder="h-editor"),
    Route("POST", "/ops/campaigns/{campaign}/clone", "operate", "page", new_campaign,
          lambda w: {"nonce": uuid.uuid4().hex}, builder="h-editor"),
    Route("GET", "/ops/campaigns/{campaign}/delete", "operate", "page", new_campaign, builder="h-editor"),
    Route("POST", "/ops/campaigns/{campaign}/delete", "operate", "page", new_campaign, lambda w: {},
          builder="h-editor"),
    Route("GET", "/ops/dashboard/campaigns/{campaign}", "read", "page", new_campaign, builder="h-dash"),
    Route("GET", "/ops/dashboard/campaigns/{campaign}/export.csv", "read", "page", new_campaign, builder="h-dash"),
    Route("GET", "/ops/batches/{batch}", "read", "page", the_batch, builder="h-publish"),
    Route("POST", "/ops/batches/{batch}/void", "operate", "page", new_batch,
          lambda w: {"range": "5-9", "reason": "matrix: damaged labels"}, builder="h-publish"),
    Route("POST", "/ops/batches/{batch}/activate", "operate", "page", new_batch, lambda w: {"range": "0-9"},
          builder="h-publish"),
    Route("GET", "/ops/publish/rollback/{version}?brand={brand}", "operate", "page", new_version,
          builder="h-publish"),
    Route("POST", "/ops/publish/rollback/{version}", "operate", "page", new_version, lambda w: {"brand": "a"},
          builder="h-publish"),
    # console pages: payouts (h-ops)
    Route("GET", "/ops/payouts?brand={brand}", "read", "page", lambda w: {}),
    Route("GET", "/ops/payouts/export.csv?brand={brand}", "read", "page", lambda w: {}),
    Route("GET", "/ops/payouts/{payout}", "read", "page", new_payout("failed")),
    Route("GET", "/ops/payouts/{payout}/retry", "operate", "page", new_payout("failed")),
    Route("POST", "/ops/payouts/{payout}/retry", "operate", "page", new_payout("failed"), lambda w: {},
          engine=True),
    Route("GET", "/ops/payouts/{payout}/cancel", "operate", "page", new_payout("pending")),
    Route("POST", "/ops/payouts/{payout}/cancel", "operate", "page", new_payout("pending"), lambda w: {},
          engine=True),
    Route("GET", "/ops/admin?brand={brand}", "admin", "page", lambda w: {}),
    Route("POST", "/ops/admin/{brand}/users", "admin", "page", lambda w: {},
          lambda w: {"email": f"new-{uuid.uuid4().hex[:8]}@a.example", "role": "analyst"}),
    Route("POST", "/ops/admin/{brand}/users/{user}/role", "admin", "page", new_member, lambda w: {"role": "operator"}),
    Route("POST", "/ops/admin/{brand}/users/{user}/disable", "admin", "page", new_member, lambda w: {}),
    Route("POST", "/ops/admin/{brand}/users/{user}/remove", "admin", "page", new_member, lambda w: {}),
    Route("POST", "/ops/tokens/{token}/revoke", "admin", "page", new_token, lambda w: {}),
]


def expected(actor: tuple[str, str], route: Route) -> str:
    brand, role = actor
    if brand != "a":
        return "404"
    return "ok" if role_at_least(role, NEEDS[route.need]) else "403"


def registered(app: Flask, route: Route) -> bool:
    path = route.path.split("?")[0].format(brand="a", campaign=1, batch=1, version=1, user=1, token=1, payout=1)
    try:
        app.url_map.bind("localhost").match(path, method=route.method)
    except (NotFound, MethodNotAllowed):
        return False
    except RequestRedirect:
        return True
    return True


# -- the world, built once for the module --------------------------------------------------------------

@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    r = redis.Redis.from_url(REDIS_TEST_URL)
    r.flushdb()
    tmp: Path = tmp_path_factory.mktemp("matrix")
    app = web_conftest.make_app(tmp, ops_token="matrix-platform-token")
    web_conftest._APPS.remove(app)  # module-scoped: closed below, not after the first case
    ring, _ = keys.init_keyring(tmp / "keys.json")  # made by make_app; read back here
    w = World(app, keys_file=tmp / "keys.json")
    with transaction(w.sessions()) as s:
        for slug in BRANDS:
            brand = batches.add_brand(s, slug, f"品牌 {slug.upper()}", f"https://{slug}.example")
            batches.add_product(s, brand, f"SKU-{slug}", f"Product {slug}", "6901234567892" if slug == "a"
                                else "6901234567908")
            batch = batches.create_batch(s, brand, batches.BatchRequest(
                sku=f"SKU-{slug}", lot="L1", count=100, pack=10, production_date=date(2026, 11, 1)),
                key_id=ring.current, max_count=10_000)
            w.batch[slug] = batch.id
            w.brand_id[slug] = brand.id
    for brand, role in ACTORS:
        email = f"{role}@{brand}.example"
        add_user(app, email, role, brand=brand)
        with transaction(w.sessions()) as s:
            user = user_by_email(s, email)
            assert user is not None
            _, w.tokens[(brand, role)] = issue_token(s, user, w.brand_id[brand], role, "matrix", 5)
    yield w
    app.extensions["yima.scanner"].close()
    app.extensions["yima.redis"].close()
    app.extensions["yima.db"].engine.dispose()
    r.flushdb()
    r.close()


def call(world: World, actor: tuple[str, str], route: Route, url: str) -> Any:
    body = route.body(world) if route.body else None
    if route.via == "api":
        headers = {"Authorization": f"Bearer {world.tokens[actor]}"}
        return world.app.test_client().open(url, method=route.method, json=body, headers=headers)
    client, token = world.signed_in(actor)
    if route.method == "GET":
        return client.get(url)
    return client.open(url, method=route.method, data={**(body or {}), "csrf_token": token})


@pytest.mark.parametrize("route", ROUTES, ids=str)
@pytest.mark.parametrize("actor", ACTORS, ids=lambda a: f"{a[1]}-of-{a[0]}")
def test_tenancy(world: World, actor: tuple[str, str], route: Route) -> None:
    if not registered(world.app, route):
        pytest.skip(f"{route} is not registered yet ({route.builder or 'pending'} is building it)")
    want = expected(actor, route)
    if route.engine and want == "ok" and not ENGINE:
        pytest.skip(f"{route} runs payouts.engine, which is not on this branch yet")
    url = route.path.format(brand="a", **route.target(world))
    audit_before = world.audit_count()
    resp = call(world, actor, route, url)
    got = resp.status_code
    detail = f"{actor[1]} of brand {actor[0]}: {route.method} {url} → {got} {resp.get_data(as_text=True)[:300]}"
    if want == "ok":
        assert 200 <= got < 400 and "/ops/login" not in resp.headers.get("Location", ""), detail
        if route.writes:
            assert world.audit_count() > audit_before, f"no audit entry for {detail}"
    else:
        assert got == int(want), f"expected {want}: {detail}"
        assert world.audit_count() == audit_before, f"a refused call changed the audit log: {detail}"


def test_another_brands_campaign_reads_exactly_like_a_missing_one(world: World) -> None:
    """Same status, same body (with the id swapped): nothing tells brand b that brand a's id exists."""
    campaign = new_campaign(world)["campaign"]
    client = world.app.test_client()
    headers = {"Authorization": f"Bearer {world.tokens[('b', 'admin')]}"}
    for method, suffix, body in (("GET", "", None), ("PUT", "", {**world.campaign_doc("b"), "edit_version": 1}),
                                 ("DELETE", "", None), ("POST", "/status", {"status": "ended"}),
                                 ("POST", "/backtest", WINDOW), ("POST", "/clone", {}),
                                 ("POST", "/prizes/0/coupons", {"codes": ["X1"]})):
        theirs = client.open(f"/api/v1/campaigns/{campaign}{suffix}", method=method, json=body, headers=headers)
        missing = client.open(f"/api/v1/campaigns/{10**6}{suffix}", method=method, json=body, headers=headers)
        assert theirs.status_code == missing.status_code == 404, (method, suffix)
        assert theirs.get_json()["error"]["message"].replace(str(campaign), "N") == \
            missing.get_json()["error"]["message"].replace(str(10**6), "N")
