from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from app import create_app
from tests.conftest import REDIS_TEST_URL


@pytest.fixture
def app(tmp_path: Path, redis_client) -> Iterator[Flask]:  # type: ignore[no-untyped-def]
    app = create_app(
        {
            "var_dir": tmp_path,
            "database_url": f"sqlite:///{tmp_path / 'web.db'}",
            "redis_url": REDIS_TEST_URL,
            "keys_file": tmp_path / "keys.json",
            "hq_public_file": tmp_path / "hq-public.json",
            "base_url": "https://q.demo.example",
        }
    )
    app.config["TESTING"] = True
    yield app
    app.extensions["yima.db"].engine.dispose()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()
