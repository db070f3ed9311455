"""Publishing per brand: a brand's publish and rollback leave the other brands' live campaigns alone, every
version records its campaigns' definitions, and the diff against the live version is field by field.
Real Redis, SQLite and PostgreSQL."""

from __future__ import annotations

import json
from typing import Any

import pytest
import redis
from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from codegen import batches
from codegen.db import make_engine, make_sessionmaker, transaction
from rules.campaign import InvalidCampaign
from rules.campaign_store import save_campaign, set_status
from rules.diff import ABSENT, FieldChange, definition_changes
from rules.models import Campaign, RulesVersion
from rules.publish import (
    PublishConflict,
    UnknownVersion,
    current_version,
    list_versions,
    pending_diff,
    publish_rules,
    rollback_rules,
)
from rules.region import default_index
from rules.snapshot import CURRENT, snapshot_key
from schema import upgrade_schema
from tests.support.backends import RedisBackend

REGIONS = default_index()


def definition(brand: str, name: str, **over: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "name": name, "brand": brand,
        "window": {"start": "2026-01-01T00:00:00+08:00", "end": "2030-01-01T00:00:00+08:00"},
        "budget": {"total_fen": 100_000},
        "prizes": [{"kind": "cash", "name": "红包", "min_fen": 100, "max_fen": 300, "weight": 0.5}],
    }
    doc.update(over)
    return doc


@pytest.fixture
def sessions(database_url: str):  # type: ignore[no-untyped-def]
    engine = make_engine(database_url)
    upgrade_schema(engine)
    factory = make_sessionmaker(engine)
    with transaction(factory) as s:
        for slug in ("alpha", "beta"):
            brand = batches.add_brand(s, slug, slug.title(), f"https://q.{slug}.example")
            batches.add_product(s, brand, "S1", "Thing", None)
    yield factory
    engine.dispose()


def brand_id(s: Session, slug: str) -> int:
    return batches.resolve_brand(s, slug).id


def campaign(sessions: sessionmaker[Session], brand: str, name: str, *, active: bool = True, **over: Any) -> int:
    with transaction(sessions) as s:
        row = save_campaign(s, definition(brand, name, **over), REGIONS)
        if active:
            set_status(s, row.id, Campaign.ACTIVE, REGIONS)
        return row.id


def publish(sessions: sessionmaker[Session], r: redis.Redis, brand: str | None, note: str = "") -> Any:
    with transaction(sessions) as s:
        return publish_rules(s, r, REGIONS, note, brand_id=brand_id(s, brand) if brand else None, actor="tester")


def live_ids(r: redis.Redis) -> set[int]:
    doc = json.loads(r.get(snapshot_key(current_version(r))) or "{}")
    return {c["id"] for c in doc.get("campaigns", [])}


def test_a_brand_publish_keeps_other_brands_as_live(sessions, redis_any: redis.Redis) -> None:  # type: ignore[no-untyped-def]
    a1 = campaign(sessions, "alpha", "A1")
    b1 = campaign(sessions, "beta", "B1")
    first = publish(sessions, redis_any, "beta")  # beta goes live alone: alpha's A1 is not beta's to publish
    assert live_ids(redis_any) == {b1} and first.version.version == 1
    b2 = campaign(sessions, "beta", "B2")  # activated, not published
    done = publish(sessions, redis_any, "alpha", "spring")
    assert live_ids(redis_any) == {a1, b1}  # alpha's publish did not put beta's B2 live
    assert redis_any.keys(f"{{c:{a1}}}:*")  # its counters were opened before any process can draw
    assert [c.id for c in done.diff.added] == [a1] and not done.diff.removed and not done.diff.changed
    with sessions() as s:
        row = s.get(RulesVersion, done.version.version)
        assert row is not None and row.brand_id == brand_id(s, "alpha") and row.actor == "tester"
        assert row.note == "spring" and set(row.definitions or {}) == {str(a1), str(b1)}
        assert row.definitions[str(b1)]["definition"]["name"] == "B1"  # type: ignore[index]
    publish(sessions, redis_any, "beta")
    assert live_ids(redis_any) == {a1, b1, b2}


def test_a_brand_rollback_does_not_undo_another_brands_publish(sessions, redis_any: redis.Redis) -> None:  # type: ignore[no-untyped-def]
    a1 = campaign(sessions, "alpha", "A1")
    v1 = publish(sessions, redis_any, "alpha").version.version
    a2 = campaign(sessions, "alpha", "A2")
    publish(sessions, redis_any, "alpha")
    b1 = campaign(sessions, "beta", "B1")
    publish(sessions, redis_any, "beta")
    assert live_ids(redis_any) == {a1, a2, b1}
    with transaction(sessions) as s:
        done = rollback_rules(s, redis_any, v1, brand_id=brand_id(s, "alpha"), note="A2 was wrong", actor="t")
    assert live_ids(redis_any) == {a1, b1}  # alpha back to v1, beta's publish kept
    assert done.version.version == 4 and done.version.note == "rollback to 1: A2 was wrong"
    assert [c.id for c in done.diff.removed] == [a2]
    assert done.diff.removed[0].changes == ()  # A2 is still active in SQL: no status change, just not live
    with sessions() as s:
        assert pending_diff(s, redis_any, brand_id(s, "alpha")).added[0].id == a2  # a publish would bring it


def test_versions_and_rollback_are_scoped_to_the_brand(sessions, redis_any: redis.Redis) -> None:  # type: ignore[no-untyped-def]
    campaign(sessions, "alpha", "A1")
    campaign(sessions, "beta", "B1")
    platform = publish(sessions, redis_any, None).version.version
    va = publish(sessions, redis_any, "alpha").version.version
    vb = publish(sessions, redis_any, "beta").version.version
    with sessions() as s:
        alpha, beta = brand_id(s, "alpha"), brand_id(s, "beta")
        assert [v.version for v in list_versions(s, brand_id=alpha)] == [va, platform]
        assert [v.version for v in list_versions(s, brand_id=beta)] == [vb, platform]
        assert [v.version for v in list_versions(s)] == [vb, va, platform]
    with transaction(sessions) as s, pytest.raises(UnknownVersion):
        rollback_rules(s, redis_any, vb, brand_id=alpha)  # beta's version: alpha cannot even see it
    assert current_version(redis_any) == vb


def test_platform_publish_and_rollback_work_as_before(sessions, redis_any: redis.Redis) -> None:  # type: ignore[no-untyped-def]
    a1 = campaign(sessions, "alpha", "A1")
    b1 = campaign(sessions, "beta", "B1")
    assert publish(sessions, redis_any, None).version.version == 1
    assert live_ids(redis_any) == {a1, b1}
    with transaction(sessions) as s:
        set_status(s, b1, Campaign.PAUSED, REGIONS)
    done = publish(sessions, redis_any, None)
    assert live_ids(redis_any) == {a1}
    assert [(c.id, c.changes) for c in done.diff.removed] == [(b1, (FieldChange("status", "active", "paused"),))]
    with transaction(sessions) as s:
        back = rollback_rules(s, redis_any, 1)
    assert back.version.version == 1 and current_version(redis_any) == 1 and live_ids(redis_any) == {a1, b1}


def test_the_diff_is_field_by_field_against_the_live_version(sessions, redis_any: redis.Redis) -> None:  # type: ignore[no-untyped-def]
    a1 = campaign(sessions, "alpha", "A1")
    a2 = campaign(sessions, "alpha", "A2")
    gone = campaign(sessions, "alpha", "Gone")
    publish(sessions, redis_any, "alpha")
    changed = definition("alpha", "A1 renamed", regions={"include": ["44"]},
                         prizes=[{"kind": "cash", "name": "红包", "min_fen": 100, "max_fen": 300, "weight": 0.25},
                                 {"kind": "points", "name": "积分", "points": 5, "weight": 0.1}])
    with transaction(sessions) as s:
        save_campaign(s, changed, REGIONS, a1, edit_version=s.get(Campaign, a1).edit_version)
        set_status(s, gone, Campaign.ENDED, REGIONS)
    a3 = campaign(sessions, "alpha", "A3")
    campaign(sessions, "beta", "B-draft-is-not-alpha's")
    with sessions() as s:
        diff = pending_diff(s, redis_any, brand_id(s, "alpha"))
    assert [c.id for c in diff.added] == [a3]
    assert [(c.id, c.changes) for c in diff.removed] == [(gone, (FieldChange("status", "active", "ended"),))]
    assert [c.id for c in diff.changed] == [a1] and diff.unchanged == 1  # A2 unchanged
    paths = {c.path: (c.before, c.after) for c in diff.changed[0].changes}
    assert paths["name"] == ("A1", "A1 renamed")
    assert paths["prizes.0.weight"] == (0.5, 0.25)
    assert paths["prizes.1"][0] is ABSENT and paths["prizes.1"][1]["points"] == 5
    assert paths["regions"][0] is ABSENT
    as_json = diff.as_dict()
    assert as_json["added"][0]["definition"]["name"] == "A3"
    assert {"path": "prizes.0.weight", "before": 0.5, "after": 0.25} in as_json["changed"][0]["changes"]
    assert json.dumps(as_json)  # the audit log stores it as JSON
    assert a2 not in {c.id for c in diff.changed}


def test_definition_changes_compare_plain_lists_whole_and_types_strictly() -> None:
    before = {"scope": {"batches": [1, 2]}, "first_scan_wins": True, "x": 1}
    after = {"scope": {"batches": [1, 3]}, "first_scan_wins": 1, "x": 1}
    assert list(definition_changes(before, after)) == [
        FieldChange("scope.batches", [1, 2], [1, 3]), FieldChange("first_scan_wins", True, 1)]
    assert list(definition_changes(before, before)) == []


def test_a_publish_refuses_an_invalid_campaign_of_its_brand_only(sessions, redis_any: redis.Redis) -> None:  # type: ignore[no-untyped-def]
    a1 = campaign(sessions, "alpha", "A1")
    b1 = campaign(sessions, "beta", "B1")
    with transaction(sessions) as s:
        s.get(Campaign, b1).definition = {**definition("beta", "B1"), "budget": "lots"}  # type: ignore[union-attr]
    publish(sessions, redis_any, "alpha")  # beta's broken campaign is beta's problem
    assert live_ids(redis_any) == {a1}
    with pytest.raises(InvalidCampaign) as caught:
        publish(sessions, redis_any, "beta")
    assert caught.value.problems[0].field == f"campaign {b1}"
    assert live_ids(redis_any) == {a1}


def test_a_publish_built_on_a_version_that_is_no_longer_live_is_refused(sessions, redis_any: redis.Redis,  # type: ignore[no-untyped-def]
                                                                          redis_backend: RedisBackend,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    campaign(sessions, "alpha", "A1")
    before = publish(sessions, redis_any, "alpha").version.version
    campaign(sessions, "alpha", "A2")
    move_pointer_after_watch(redis_any, redis_backend.client(), monkeypatch)
    with pytest.raises(PublishConflict):
        publish(sessions, redis_any, "alpha")
    assert current_version(redis_any) == before
    with sessions() as s:
        assert [v.version for v in list_versions(s)] == [before]  # its SQL row rolled back with it


def move_pointer_after_watch(client: Any, other: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Let another publish win the race: the pointer moves once the publish has read the live version and
    is about to make its own current. Patched on the instance, so the client keeps its class (the code
    tells a cluster client by it)."""
    real_pipeline = client.pipeline

    def pipeline(*args: Any, **kwargs: Any) -> Any:
        pipe = real_pipeline(*args, **kwargs)
        real_watch = pipe.watch

        def watch(*keys: str) -> Any:
            result = real_watch(*keys)
            other.incr(CURRENT)  # another process went live after WATCH
            other.decr(CURRENT)  # ...and even if it ends where it started, WATCH saw the write
            return result

        pipe.watch = watch
        return pipe

    monkeypatch.setattr(client, "pipeline", pipeline)


def test_versions_from_before_0009_still_publish_and_diff(empty_database_url: str, redis_any: redis.Redis) -> None:
    """A database upgraded with versions that recorded no brand, actor or definitions: a brand's publish
    keeps the others' campaigns from the old snapshot, and the diff says what it cannot compare."""
    from alembic import command

    from schema.migrate import alembic_config

    engine = make_engine(empty_database_url)
    cfg = alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0007")
        conn.execute(text("INSERT INTO rules_versions (version, created_at, campaign_count, snapshot, note) "
                          "VALUES (1, CURRENT_TIMESTAMP, 0, :doc, 'old')"),
                     {"doc": '{"version": 1, "campaigns": []}'})
    upgrade_schema(engine)
    factory = make_sessionmaker(engine)
    with transaction(factory) as s:
        old = s.get(RulesVersion, 1)
        assert old is not None and (old.brand_id, old.actor, old.definitions, old.note) == (None, "", None, "old")
        s.delete(old)  # the campaigns below are published the old way, as version 1 again
    with transaction(factory) as s:
        for slug in ("alpha", "beta"):
            batches.add_brand(s, slug, slug.title(), f"https://q.{slug}.example")
    a1 = campaign(factory, "alpha", "A1")
    b1 = campaign(factory, "beta", "B1")
    publish(factory, redis_any, None)
    with transaction(factory) as s:
        row = s.get(RulesVersion, 1)
        assert row is not None
        row.definitions, row.actor = None, ""  # what a version made before 0009 holds
    with factory() as s:
        diff = pending_diff(s, redis_any, brand_id(s, "alpha"))
        assert [(c.id, c.unrecorded) for c in diff.changed] == [(a1, True)]
    publish(factory, redis_any, "alpha")
    assert live_ids(redis_any) == {a1, b1}
    with factory() as s:
        assert pending_diff(s, redis_any, brand_id(s, "alpha")).empty  # recorded from now on
        assert pending_diff(s, redis_any, brand_id(s, "beta")).changed[0].unrecorded
    engine.dispose()
