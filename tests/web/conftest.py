from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from app import create_app
from app.seed import DemoInfo, seed_demo
from codegen import keys
from tests.conftest import DATABASES, REDIS_TEST_URL

_APPS: list[Flask] = []


@pytest.fixture(autouse=True)
def _close_apps() -> Iterator[None]:
    """Every app a test made gives its connections back when the test ends (Redis pool, the scan call's
    own connections, SQL pool), so no socket is left for the garbage collector to find."""
    yield
    while _APPS:
        app = _APPS.pop()
        app.extensions["yima.scanner"].close()
        app.extensions["yima.redis"].close()
        app.extensions["yima.db"].engine.dispose()


def make_app(tmp_path: Path, *, with_keys: bool = True, **over: object) -> Flask:
    """The real app on a temp SQLite file (a copy of the session's migrated one) and the test Redis DB;
    `over` replaces Config fields."""
    if "database_url" not in over and not (tmp_path / "web.db").exists():
        DATABASES.copy_migrated_sqlite(tmp_path / "web.db")
    if with_keys:
        keys.init_keyring(tmp_path / "keys.json")
    app = create_app(
        {
            "var_dir": tmp_path,
            "database_url": f"sqlite:///{tmp_path / 'web.db'}",
            "redis_url": REDIS_TEST_URL,
            "keys_file": tmp_path / "keys.json",
            "hq_public_file": tmp_path / "hq-public.json",
            "base_url": "https://q.demo.example",
            # A loaded CI machine can stall Redis past the production 60 ms; tests of that budget set it.
            "redis_timeout": 1.0,
            **over,
        }
    )
    app.config["TESTING"] = True
    _APPS.append(app)
    return app


def seeded_app(tmp_path: Path, **over: object) -> tuple[Flask, DemoInfo]:
    """`make_app` with the demo brand, product and activated batch seeded."""
    app = make_app(tmp_path, **over)
    return app, seed_demo(app.config["YIMA"], app.extensions["yima.db"], app.extensions["yima.redis"])


@pytest.fixture
def app(tmp_path: Path, redis_client) -> Iterator[Flask]:  # type: ignore[no-untyped-def]
    app = make_app(tmp_path, with_keys=False)
    yield app
    app.extensions["yima.db"].engine.dispose()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()
