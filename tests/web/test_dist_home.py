"""The channel desk (/dist): each seat signs in on the console's login page and lands on its own tiles;
console pages and the console API refuse channel staff; a seat's token acts as the seat."""

from __future__ import annotations

from pathlib import Path

import pytest

from accounts.tokens import issue_token
from accounts.users import get_user, user_by_email
from codegen.db import transaction
from tests.support.channel_world import channel_world
from tests.web.conftest import make_app
from tests.web.console_support import add_user, login


@pytest.fixture
def world(tmp_path: Path, redis_client):  # type: ignore[no-untyped-def]
    return channel_world(make_app(tmp_path))


@pytest.mark.parametrize("kind, word", [("warehouse", "仓库"), ("inspector", "稽查"), ("distributor", "经销商"),
                                        ("clerk", "门店核销员"), ("waiter", "服务员")])
def test_each_seat_lands_on_its_desk(world, kind: str, word: str) -> None:  # type: ignore[no-untyped-def]
    client = world.app.test_client()
    login(client, world.users[("a", kind)])
    home = client.get("/ops/")
    assert home.status_code == 302 and home.headers["Location"].endswith("/dist")
    page = client.get("/dist")
    assert page.status_code == 200
    assert word in page.get_data(as_text=True)


def test_channel_staff_have_no_console(world) -> None:  # type: ignore[no-untyped-def]
    client = world.app.test_client()
    login(client, world.users[("a", "distributor")])
    assert client.get("/ops/campaigns/?brand=a").status_code == 404


def test_brand_staff_pick_a_brand_once(world) -> None:  # type: ignore[no-untyped-def]
    add_user(world.app, "op@both.test", "operator", "a")
    add_user(world.app, "op@both.test", "analyst", "b")
    client = world.app.test_client()
    login(client, "op@both.test")
    picker = client.get("/dist")
    assert picker.status_code == 200 and "?brand=a" in picker.get_data(as_text=True)
    assert "品牌管理" in client.get("/dist?brand=b").get_data(as_text=True)
    assert client.get("/dist?brand=nope").status_code == 404


def test_a_seat_token_acts_as_the_seat_only(world) -> None:  # type: ignore[no-untyped-def]
    with transaction(world.app.extensions["yima.db"].sessions) as s:
        user = get_user(s, user_by_email(s, world.users[("a", "clerk")]).id)  # type: ignore[union-attr]
        _, secret = issue_token(s, user, user.seat.brand_id, "channel", "pda", 30)  # type: ignore[union-attr]
    client = world.app.test_client()
    # The console API is a brand role's: a seat's token reads no brand there.
    listed = client.get("/api/v1/campaigns", headers={"Authorization": f"Bearer {secret}"})
    assert listed.status_code == 200 and listed.get_json()["campaigns"] == []
