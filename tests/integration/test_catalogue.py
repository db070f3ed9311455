"""Brands, products, batches, activation and voiding on real SQL (SQLite and PostgreSQL) and real Redis."""

from __future__ import annotations

from datetime import date

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry
from sqlalchemy import select

from codegen import batches
from codegen.batch_state import read_batch_state
from codegen.db import make_engine, make_sessionmaker, transaction
from codegen.keys import Keyring
from codegen.models import Batch, BatchRange
from codegen.ranges import RangeError
from schema import schema_is_current, upgrade_schema

RING = Keyring(current=1, keys={1: bytes(range(32))})


@pytest.fixture
def sessions(database_url: str):  # type: ignore[no-untyped-def]
    engine = make_engine(database_url)
    upgrade_schema(engine)
    upgrade_schema(engine)  # idempotent
    assert schema_is_current(engine)
    yield make_sessionmaker(engine)
    engine.dispose()


def _seed(sessions) -> int:  # type: ignore[no-untyped-def]
    with transaction(sessions) as s:
        brand = batches.add_brand(s, "acme", "Acme Beer", "https://q.acme.example/")
        batches.add_product(s, brand, "BEER-500", "Lager 500ml", "6901234567892")
        batch = batches.create_batch(
            s, brand, batches.BatchRequest(sku="BEER-500", lot="L1", count=1000, pack=24,
                                           production_date=date(2026, 11, 20)),
            key_id=1, max_count=10_000,
        )
        return batch.id


def test_batch_lifecycle_is_mirrored_into_redis(sessions, redis_client: redis.Redis) -> None:  # type: ignore[no-untyped-def]
    batch_id = _seed(sessions)
    with transaction(sessions) as s:
        batch = batches.get_batch(s, batch_id)
        ticket = batches.make_ticket(batch, RING)
        assert ticket.base_url == "https://q.acme.example" and ticket.gtin == "06901234567892"
        assert ticket.batch_key == RING.batch_key(1, batch_id)
        batches.sync_batch(redis_client, batch)
    meta, active, void = read_batch_state(redis_client, batch_id)  # type: ignore[misc]
    assert meta["status"] == "created" and meta["quantity"] == "1000" and meta["production_date"] == "2026-11-20"
    assert active == [] and void == []

    with transaction(sessions) as s:
        batches.activate(s, redis_client, batch_id, "0-499")
        batches.activate(s, redis_client, batch_id, "500-599")
        batches.void(s, redis_client, batch_id, "100-199", "damaged roll")
    meta, active, void = read_batch_state(redis_client, batch_id)  # type: ignore[misc]
    assert meta["status"] == "active" and active == [(0, 599)] and void == [(100, 199)]

    with transaction(sessions) as s:
        history = s.scalars(select(BatchRange).where(BatchRange.batch_id == batch_id)).all()
        assert [(r.kind, r.first_serial, r.last_serial) for r in history] == [
            ("activate", 0, 499), ("activate", 500, 599), ("void", 100, 199)]
        assert history[-1].reason == "damaged roll"

    redis_client.flushdb()  # Redis lost everything: rebuild from SQL
    assert read_batch_state(redis_client, batch_id) is None
    with transaction(sessions) as s:
        batches.sync_batch(redis_client, batches.get_batch(s, batch_id))
    assert read_batch_state(redis_client, batch_id)[1:] == ([(0, 599)], [(100, 199)])  # type: ignore[index]


def test_redis_down_during_activation_changes_nothing(sessions) -> None:  # type: ignore[no-untyped-def]
    batch_id = _seed(sessions)
    dead = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2, retry=Retry(NoBackoff(), 0))
    with pytest.raises(redis.ConnectionError), transaction(sessions) as s:
        batches.activate(s, dead, batch_id, None)
    with transaction(sessions) as s:
        batch = s.get(Batch, batch_id)
        assert batch is not None and batch.status == "created" and batch.ranges == []


@pytest.mark.parametrize(
    ("req", "message"),
    [
        (dict(sku="NOPE", lot="L2", count=10), "unknown SKU"),
        (dict(sku="BEER-500", lot="L2", count=0), "at least 1"),
        (dict(sku="BEER-500", lot="L2", count=-5), "at least 1"),
        (dict(sku="BEER-500", lot="L2", count=10_001), "above the limit"),
        (dict(sku="BEER-500", lot="L1", count=10), "already exists"),
        (dict(sku="BEER-500", lot="bad lot!", count=10), "lot"),
        (dict(sku="BEER-500", lot="L2", count=10, pack=11), "pack"),
    ],
)
def test_bad_batch_requests_are_refused_with_a_reason(sessions, req, message) -> None:  # type: ignore[no-untyped-def]
    _seed(sessions)
    with pytest.raises(batches.CatalogError, match=message), transaction(sessions) as s:
        brand = batches.resolve_brand(s, None)
        batches.create_batch(s, brand, batches.BatchRequest(**req), key_id=1, max_count=10_000)
    with transaction(sessions) as s:
        assert len(s.scalars(select(Batch)).all()) == 1


def test_catalogue_validation(sessions) -> None:  # type: ignore[no-untyped-def]
    _seed(sessions)
    with transaction(sessions) as s:
        brand = batches.resolve_brand(s, "acme")
        for args, message in [
            (("BEER-500", "again", None), "already exists"),
            (("X1", "Bad GTIN", "6901234567893"), "check digit"),
            (("", "Empty", None), "SKU"),
        ]:
            with pytest.raises(batches.CatalogError, match=message):
                batches.add_product(s, brand, *args)
        with pytest.raises(batches.CatalogError, match="already exists"):
            batches.add_brand(s, "acme", "x", "https://x.example")
        with pytest.raises(batches.CatalogError, match="base URL"):
            batches.add_brand(s, "other", "x", "ftp://x.example")
        with pytest.raises(batches.CatalogError, match="unknown brand"):
            batches.resolve_brand(s, "ghost")
        batch = s.scalars(select(Batch)).one()
        with pytest.raises(RangeError, match="past the batch"):
            batches.activate(s, None, batch.id, "0-1000")
        with pytest.raises(batches.CatalogError, match="unknown batch"):
            batches.void(s, None, 999, "0-1", "")
