"""The channel's access matrix: every channel route that takes an id, called by every actor of two brands
on brand a's objects, by page (signed-in session and CSRF) and by API (the actor's token):

    an actor who cannot see the object (another brand's; a distributor outside the object's subtree;
    a store that is not the object's; channel staff on a console page)      → 404, like a missing id
    an actor who sees it but whose seat or role may not act                  → 403
    an actor allowed to                                                      → 2xx (3xx after a form's POST)

A seat whose kind never uses a route (a waiter and settlement statements) may get that route's 403 for
every id, its own brand's and others' alike: it tells nothing about the id, so it is accepted where a 404
is expected; `test_a_hidden_id_reads_like_a_missing_one` holds every refusal to the answer for an id that
does not exist. Refused calls leave the audit log untouched; accepted writes add to it.

Brand a's channel (tests/support/channel_world.py, plus Q and S2 added here):

    P 广东 (A-P1) ─ C 广州 (A-C1) ─ store S        Q 广西 (A-Q1) ─ store S2

Routes other helpers are still building are listed with the URL patterns they will use and skipped while
they are not registered, so the matrix tightens itself as routes land. Their objects are made straight in
SQL (channel.models), so the matrix depends on no one's domain code.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from itertools import count
from typing import Any

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.exceptions import MethodNotAllowed, NotFound
from werkzeug.routing import RequestRedirect

from accounts.audit import AuditFilter, count_changes
from accounts.tokens import CHANNEL, issue_token
from accounts.users import user_by_email
from channel.models import Shipment, ShipmentRange, StoreStatement
from channel.paths import bump_version
from codegen.db import transaction
from tests.conftest import REDIS_TEST_URL
from tests.support.channel_world import ChannelWorld, add_distributor, add_seat_user, add_store, channel_world
from tests.web import conftest as web_conftest
from tests.web.console_support import add_user, ensure_brand, login

MISSING = 10**6  # an id no object has
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass(frozen=True)
class Actor:
    name: str  # brand a's actors by their place: op, analyst, warehouse, inspector, P, C, Q, clerk, waiter, clerk2
    brand: str
    kind: str  # "brand" (a console role) or a seat kind
    email: str
    role: str = ""  # a console role

    def __str__(self) -> str:
        return self.name if self.brand == "a" else f"{self.name}-of-b"


def _actors() -> list[Actor]:
    out = []
    for brand in ("a", "b"):
        out += [Actor("op", brand, "brand", f"op@{brand}.matrix", "operator"),
                Actor("analyst", brand, "brand", f"analyst@{brand}.matrix", "analyst"),
                Actor("warehouse", brand, "warehouse", f"warehouse@{brand}.test"),
                Actor("inspector", brand, "inspector", f"inspector@{brand}.test"),
                Actor("P", brand, "distributor", f"distributor@{brand}.test"),
                Actor("clerk", brand, "clerk", f"clerk@{brand}.test"),
                Actor("waiter", brand, "waiter", f"waiter@{brand}.test")]
    out += [Actor("C", "a", "distributor", "sub@a.test"), Actor("Q", "a", "distributor", "q@a.test"),
            Actor("clerk2", "a", "clerk", "clerk2@a.test")]
    return out


ACTORS = _actors()


@dataclass
class World:
    channel: ChannelWorld
    q: int = 0  # distributor Q of brand a
    s2: int = 0  # store S2, under Q
    tokens: dict[Actor, str] = field(default_factory=dict)
    clients: dict[Actor, tuple[FlaskClient, str]] = field(default_factory=dict)
    periods: Iterator[int] = field(default_factory=count)

    @property
    def app(self) -> Flask:
        return self.channel.app

    def sessions(self) -> Any:
        return self.app.extensions["yima.db"].sessions

    def audit_count(self) -> int:
        with self.sessions()() as s:
            return count_changes(s, AuditFilter())

    def signed_in(self, actor: Actor) -> tuple[FlaskClient, str]:
        """The actor's phone or browser, signed in once per module, with its CSRF token."""
        if actor not in self.clients:
            client = self.app.test_client()
            login(client, actor.email)
            home = client.get("/ops/")
            page = client.get("/dist") if home.status_code == 302 else home  # channel staff have no console
            found = _CSRF.search(page.get_data(as_text=True))
            assert found, f"no CSRF token for {actor}"
            self.clients[actor] = client, found.group(1)
        return self.clients[actor]


# -- brand a's objects: the directory's are shared (writes change a field to a fresh value); a shipment or a
# statement is made fresh for each case, straight in SQL, because receiving or settling it changes its state.

def the_distributor(w: World) -> dict[str, Any]:
    return {"id": w.channel.distributor["a"]}


def the_store(w: World) -> dict[str, Any]:
    return {"id": w.channel.store["a"]}


def new_shipment(w: World) -> dict[str, Any]:
    """P → C, shipped: cases 0-1 of brand a's batch."""
    brand_id = ensure_brand(w.app, "a")
    with transaction(w.sessions()) as s:
        sh = Shipment(brand_id=brand_id, from_distributor_id=w.channel.distributor["a"],
                      to_distributor_id=w.channel.sub_distributor["a"], reference=f"M-{uuid.uuid4().hex[:8]}",
                      state=Shipment.SHIPPED, case_count=2, item_count=48, created_by="matrix",
                      shipped_at=datetime.now(UTC))
        s.add(sh)
        s.flush()
        s.add(ShipmentRange(shipment_id=sh.id, brand_id=brand_id, batch_id=w.channel.batch["a"], first_case=0,
                            last_case=1))
        bump_version(s, brand_id)
        return {"id": sh.id}


def new_statement(w: World) -> dict[str, Any]:
    """Store S's pending statement for a period of its own."""
    start = date(2001, 1, 1) + timedelta(days=2 * next(w.periods))
    with transaction(w.sessions()) as s:
        st = StoreStatement(brand_id=ensure_brand(w.app, "a"), store_id=w.channel.store["a"], period_start=start,
                            period_end=start + timedelta(days=1), state=StoreStatement.PENDING,
                            created_by="matrix")
        s.add(st)
        s.flush()
        return {"id": st.id}


# -- the routes ---------------------------------------------------------------------------------------------

CONSOLE = frozenset({"op", "analyst"})
BRAND_WIDE = CONSOLE | {"warehouse", "inspector"}
OPERATOR = frozenset({"op"})


@dataclass(frozen=True)
class Route:
    method: str
    path: str  # "{id}": the object's id
    via: str  # "page" or "api"
    target: Callable[[World], dict[str, Any]]
    sees: frozenset[str]  # brand a's actors who see the object (brand b's never do)
    acts: frozenset[str]  # of those, who may do this
    body: Callable[[World], dict[str, Any]] | None = None
    never: frozenset[str] = frozenset()  # seat kinds that never use this route (their 403 is not about the id)
    builder: str = ""  # who builds it, while it may not be registered yet

    @property
    def writes(self) -> bool:
        return self.method != "GET"

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


def _distributor_form(w: World) -> dict[str, Any]:
    return {"code": "A-P1", "name": "省级经销商 a", "territory": "44", "parent_id": "", "contact": uuid.uuid4().hex[:8]}


def _store_form(w: World) -> dict[str, Any]:
    return {"name": "门店 a", "adcode": "440106", "distributor_id": str(w.channel.sub_distributor["a"]),
            "address": uuid.uuid4().hex[:8], "registered": "1"}


SHIPMENT_SEES = BRAND_WIDE | {"P", "C"}  # its sender's and its receiver's staff, and the brand
STATEMENT_SEES = CONSOLE | {"P", "C", "clerk"}  # the store's own clerk and its distributors; not the waiter
READ_STATEMENTS_NEVER = frozenset({"warehouse", "inspector", "waiter"})
DIVERSION_SEES = BRAND_WIDE | {"P"}  # P's report: not its sub-distributor C, not Q
DIVERSION_NEVER = frozenset({"warehouse", "clerk", "waiter"})
REASON = {"reason": "matrix: sent to the wrong dealer"}

ROUTES = [
    # the directory (this module's builder): console pages, then the API
    Route("GET", "/ops/channel/distributors/{id}", "page", the_distributor, CONSOLE, CONSOLE),
    Route("POST", "/ops/channel/distributors/{id}", "page", the_distributor, CONSOLE, OPERATOR, _distributor_form),
    Route("GET", "/ops/channel/stores/{id}", "page", the_store, CONSOLE, CONSOLE),
    Route("POST", "/ops/channel/stores/{id}", "page", the_store, CONSOLE, OPERATOR, _store_form),
    Route("GET", "/api/v1/channel/distributors/{id}", "api", the_distributor, BRAND_WIDE | {"P"},
          BRAND_WIDE | {"P"}),
    Route("PATCH", "/api/v1/channel/distributors/{id}", "api", the_distributor, BRAND_WIDE | {"P"}, OPERATOR,
          lambda w: {"contact": uuid.uuid4().hex[:8]}),
    Route("GET", "/api/v1/channel/stores/{id}", "api", the_store, BRAND_WIDE | {"P", "C", "clerk", "waiter"},
          BRAND_WIDE | {"P", "C", "clerk", "waiter"}),
    Route("PATCH", "/api/v1/channel/stores/{id}", "api", the_store, BRAND_WIDE | {"P", "C", "clerk", "waiter"},
          OPERATOR, lambda w: {"address": uuid.uuid4().hex[:8]}),
    # shipments (出库 / 入库): the receiver's staff receive, the sender's undo; brand operators act for the brand
    Route("GET", "/dist/shipments/{id}", "page", new_shipment, SHIPMENT_SEES, SHIPMENT_SEES, builder="shipments"),
    Route("POST", "/dist/shipments/{id}/receive", "page", new_shipment, SHIPMENT_SEES, OPERATOR | {"C"},
          lambda w: {}, builder="shipments"),
    Route("POST", "/dist/shipments/{id}/undo", "page", new_shipment, SHIPMENT_SEES, OPERATOR | {"P"},
          lambda w: REASON, builder="shipments"),
    Route("GET", "/api/v1/channel/shipments/{id}", "api", new_shipment, SHIPMENT_SEES, SHIPMENT_SEES,
          builder="shipments"),
    Route("POST", "/api/v1/channel/shipments/{id}/receive", "api", new_shipment, SHIPMENT_SEES, OPERATOR | {"C"},
          lambda w: {}, builder="shipments"),
    Route("POST", "/api/v1/channel/shipments/{id}/undo", "api", new_shipment, SHIPMENT_SEES, OPERATOR | {"P"},
          lambda w: REASON, builder="shipments"),
    # 窜货 reports: a distributor's own (and its subtree's), the brand's and the inspector's
    Route("GET", "/dist/diversion/{id}", "page", the_distributor, DIVERSION_SEES, DIVERSION_SEES - {"warehouse"},
          never=DIVERSION_NEVER, builder="diversion"),
    Route("GET", "/api/v1/channel/diversion?distributor={id}", "api", the_distributor, DIVERSION_SEES,
          DIVERSION_SEES - {"warehouse"}, never=DIVERSION_NEVER, builder="diversion"),
    # settlement statements: the store's clerk and its distributors read; brand operators settle
    Route("GET", "/dist/settlement/statements/{id}", "page", new_statement, STATEMENT_SEES, STATEMENT_SEES,
          never=READ_STATEMENTS_NEVER, builder="settlement"),
    Route("POST", "/dist/settlement/statements/{id}/settle", "page", new_statement, STATEMENT_SEES, OPERATOR,
          lambda w: {}, never=READ_STATEMENTS_NEVER, builder="settlement"),
    Route("GET", "/api/v1/channel/statements/{id}", "api", new_statement, STATEMENT_SEES, STATEMENT_SEES,
          never=READ_STATEMENTS_NEVER, builder="settlement"),
    Route("POST", "/api/v1/channel/statements/{id}/settle", "api", new_statement, STATEMENT_SEES, OPERATOR,
          lambda w: {}, never=READ_STATEMENTS_NEVER, builder="settlement"),
    Route("GET", "/api/v1/channel/statements/{id}.csv", "api", new_statement, STATEMENT_SEES, STATEMENT_SEES,
          never=READ_STATEMENTS_NEVER, builder="settlement"),
]


def expected(actor: Actor, route: Route) -> set[int] | str:
    """"ok", or the statuses a refusal may have."""
    if actor.brand != "a" or actor.name not in route.sees:
        return {404, 403} if actor.kind in route.never else {404}
    return "ok" if actor.name in route.acts else {403}


def registered(app: Flask, route: Route) -> bool:
    try:
        app.url_map.bind("localhost").match(route.path.split("?")[0].format(id=1), method=route.method)
    except (NotFound, MethodNotAllowed):
        return False
    except RequestRedirect:
        return True
    return True


# -- the world, built once for the module -------------------------------------------------------------------

@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    r = redis.Redis.from_url(REDIS_TEST_URL)
    r.flushdb()
    app = web_conftest.make_app(tmp_path_factory.mktemp("channel-matrix"))
    web_conftest._APPS.remove(app)  # module-scoped: closed below, not after the first case
    w = World(channel_world(app))
    w.q = add_distributor(app, "a", "A-Q1", "广西经销商 a", ["45"])
    w.s2 = add_store(app, "a", w.q, "南宁门店 a", "450102")
    add_seat_user(app, "sub@a.test", "a", "distributor", distributor_id=w.channel.sub_distributor["a"])
    add_seat_user(app, "q@a.test", "a", "distributor", distributor_id=w.q)
    add_seat_user(app, "clerk2@a.test", "a", "clerk", store_id=w.s2)
    for actor in ACTORS:
        if actor.kind == "brand":
            add_user(app, actor.email, actor.role, brand=actor.brand)
        with transaction(w.sessions()) as s:
            user = user_by_email(s, actor.email)
            assert user is not None
            role = actor.role if actor.kind == "brand" else CHANNEL
            _, w.tokens[actor] = issue_token(s, user, ensure_brand(app, actor.brand), role, "matrix", 5)
    yield w
    app.extensions["yima.scanner"].close()
    app.extensions["yima.redis"].close()
    app.extensions["yima.db"].engine.dispose()
    r.flushdb()
    r.close()


def call(w: World, actor: Actor, route: Route, url: str, body: dict[str, Any] | None) -> Any:
    if route.via == "api":
        headers = {"Authorization": f"Bearer {w.tokens[actor]}"}
        return w.app.test_client().open(url, method=route.method, json=body if route.writes else None,
                                         headers=headers)
    client, token = w.signed_in(actor)
    if route.method == "GET":
        return client.get(url)
    return client.open(url, method=route.method, data={**(body or {}), "csrf_token": token})


@pytest.mark.parametrize("route", ROUTES, ids=str)
@pytest.mark.parametrize("actor", ACTORS, ids=str)
def test_channel_access(world: World, actor: Actor, route: Route) -> None:
    if not registered(world.app, route):
        pytest.skip(f"{route} is not registered yet ({route.builder} is building it)")
    want = expected(actor, route)
    url = route.path.format(**route.target(world))
    body = route.body(world) if route.body else None
    audit_before = world.audit_count()
    resp = call(world, actor, route, url, body)
    got = resp.status_code
    detail = f"{actor} ({actor.email}): {route.method} {url} → {got} {resp.get_data(as_text=True)[:300]}"
    if want == "ok":
        assert 200 <= got < 400 and "/ops/login" not in resp.headers.get("Location", ""), detail
        if route.writes:
            assert world.audit_count() > audit_before, f"no audit entry for {detail}"
    else:
        assert got in want, f"expected {sorted(want)}: {detail}"
        assert world.audit_count() == audit_before, f"a refused call changed the audit log: {detail}"


@pytest.mark.parametrize("route", ROUTES, ids=str)
def test_a_hidden_id_reads_like_a_missing_one(world: World, route: Route) -> None:
    """Every actor who may not see brand a's object gets, for its id, exactly the answer for an id that
    names nothing: the same status, and from the API the same error code and message (id aside)."""
    if not registered(world.app, route):
        pytest.skip(f"{route} is not registered yet ({route.builder} is building it)")
    for actor in ACTORS:
        if expected(actor, route) == "ok" or expected(actor, route) == {403}:
            continue
        object_id = route.target(world)["id"]
        body = route.body(world) if route.body else None
        theirs = call(world, actor, route, route.path.format(id=object_id), body)
        missing = call(world, actor, route, route.path.format(id=MISSING), body)
        assert theirs.status_code == missing.status_code, (str(actor), str(route))
        if route.via == "api":
            mine, none = theirs.get_json()["error"], missing.get_json()["error"]
            assert mine["code"] == none["code"], (str(actor), str(route))
            assert mine["message"].replace(str(object_id), "N") == none["message"].replace(str(MISSING), "N"), \
                (str(actor), str(route))


def test_the_matrix_covers_every_seat_and_both_brands() -> None:
    assert {(a.brand, a.kind) for a in ACTORS} == {(b, k) for b in "ab" for k in (
        "brand", "warehouse", "inspector", "distributor", "clerk", "waiter")}
    for route in ROUTES:
        assert route.acts <= route.sees, route
        assert all(name in {a.name for a in ACTORS} for name in route.sees), route
