"""Campaigns in SQL (SQLite and PostgreSQL): one validator for every problem, edits that never overwrite
another edit, creates that happen once per idempotency key, clones."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from codegen.db import make_engine, make_sessionmaker, transaction, utcnow
from rules.campaign import InvalidCampaign, Problem
from rules.campaign_store import (
    CampaignConflict,
    EditConflict,
    clone_campaign,
    create_campaign,
    delete_campaign,
    get_campaign,
    save_campaign,
    set_status,
    update_campaign,
    validate_campaign,
)
from rules.idempotency import KEY_SECONDS, IdempotencyKeyReused
from rules.models import Campaign, IdempotencyKey
from rules.region import default_index
from schema import upgrade_schema
from tests.integration.test_awards import seed_catalogue

REGIONS = default_index()


def definition(**over: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "name": "广东首扫必中", "brand": "acme", "priority": 10, "exclusive": True,
        "window": {"start": "2026-12-01T00:00:00+08:00", "end": "2027-01-31T00:00:00+08:00"},
        "scope": {"products": ["S1"], "batches": [1], "serials": [[0, 9999]]},
        "regions": {"include": ["44"], "exclude": []},
        "ordinal": {"kind": "first_scan"},
        "first_scan_wins": True,
        "budget": {"total_fen": 50000},
        "prizes": [{"kind": "cash", "min_fen": 100, "max_fen": 500, "weight": 0.6, "total": 50}],
        "consolation": {"kind": "thanks"},
    }
    doc.update(over)
    return doc


@pytest.fixture
def sessions(database_url: str) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(database_url)
    upgrade_schema(engine)
    factory = make_sessionmaker(engine)
    with transaction(factory) as s:
        seed_catalogue(s, count=100)
    yield factory
    engine.dispose()


def problems_of(sessions: sessionmaker[Session], doc: Any) -> list[Problem]:
    with sessions() as s, pytest.raises(InvalidCampaign) as caught:
        validate_campaign(s, doc, REGIONS)
    return caught.value.problems


# --- one validator, every problem ------------------------------------------------------------------


def test_unknown_references_are_reported_with_the_structural_problems(sessions: sessionmaker[Session]) -> None:
    """The issue's case: three unknown references (brand, batch, region) and structural problems, in one
    answer. Before, the structural problems alone came back and the references were never looked at."""
    doc = definition(brand="acne", scope={"batches": [999]}, regions={"include": ["99"]},
                     window={"start": "2026-12-01", "end": "soon"}, caps={"per_member": 1},
                     prizes=[{"kind": "cash", "min_fen": 100, "weight": 1.5}, {"kind": "bitcoin"}])
    assert [(p.field, p.message) for p in problems_of(sessions, doc)] == [
        ("brand", "unknown brand 'acne'"),
        ("window.end", "must be a date-time like 2026-12-01T00:00:00+08:00"),
        ("scope.batches", "unknown batch 999 for brand 'acne'"),
        ("regions.include", "unknown region '99'"),
        ("caps", "per-member caps need members.audience members or new_members"),
        ("prizes[0].weight", "must be a probability between 0 and 1 (e.g. 0.25 for 25 %)"),
        ("prizes[1].kind", "must be one of cash, points, coupon, voucher, physical"),
    ]


def test_references_are_checked_from_what_could_be_read(sessions: sessionmaker[Session]) -> None:
    # A malformed prefix is reported once (as malformed), a well-formed unknown one as unknown; the SKU
    # and batch are looked up in the (known) brand though the budget is broken.
    doc = definition(scope={"products": ["S1", "S9"], "batches": [1, 2]}, regions={"include": ["4x", "98"]},
                     budget={"total_fen": "lots"})
    assert [(p.field, p.message) for p in problems_of(sessions, doc)] == [
        ("scope.products", "unknown SKU 'S9' for brand 'acme'"),
        ("scope.batches", "unknown batch 2 for brand 'acme'"),
        ("regions.include", "'4x' is not an adcode prefix (2, 4 or 6 digits)"),
        ("regions.include", "unknown region '98'"),
        ("budget.total_fen", "must be a whole number"),
    ]


def test_another_brands_catalogue_is_not_consulted(sessions: sessionmaker[Session]) -> None:
    from codegen import batches

    with transaction(sessions) as s:
        other = batches.add_brand(s, "rival", "Rival", "https://q.rival.example")
        batches.add_product(s, other, "SECRET", "Next year's drink", None)
    # Brand rival's SKU under acme, and acme's SKU and batch under rival, are all simply unknown.
    found = problems_of(sessions, definition(scope={"products": ["SECRET"]}))
    assert found == [Problem("scope.products", "unknown SKU 'SECRET' for brand 'acme'")]
    found = problems_of(sessions, definition(brand="rival", scope={"products": ["S1"], "batches": [1]}))
    assert found == [Problem("scope.products", "unknown SKU 'S1' for brand 'rival'"),
                     Problem("scope.batches", "unknown batch 1 for brand 'rival'")]


def test_a_valid_definition_resolves_its_references(sessions: sessionmaker[Session]) -> None:
    with sessions() as s:
        valid = validate_campaign(s, definition(), REGIONS)
    assert valid.brand_id == 1 and valid.product_ids == frozenset({1})
    assert valid.definition.region_exclude == ()  # an empty exclude list excludes nothing


# --- edits never overwrite another edit --------------------------------------------------------------


def created(sessions: sessionmaker[Session], **over: Any) -> int:
    with transaction(sessions) as s:
        return create_campaign(s, definition(**over), REGIONS).campaign.id


def test_an_edit_made_on_an_old_version_is_a_conflict(sessions: sessionmaker[Session]) -> None:
    cid = created(sessions)
    with transaction(sessions) as s:
        row = update_campaign(s, cid, definition(name="first edit"), REGIONS, edit_version=1)
        assert (row.name, row.edit_version, row.definition["name"]) == ("first edit", 2, "first edit")
    with transaction(sessions) as s, pytest.raises(EditConflict) as caught:
        update_campaign(s, cid, definition(name="second edit, made on version 1"), REGIONS, edit_version=1)
    assert caught.value.current == 2 and "changed meanwhile" in str(caught.value)
    with sessions() as s:
        assert get_campaign(s, cid).name == "first edit"
    with transaction(sessions) as s, pytest.raises(TypeError, match="edit_version"):
        save_campaign(s, definition(), REGIONS, cid)  # no blind write, even from Python


def test_a_stale_edit_is_refused_before_its_definition_is_judged(sessions: sessionmaker[Session]) -> None:
    cid = created(sessions)
    with transaction(sessions) as s:
        update_campaign(s, cid, definition(name="v2"), REGIONS, edit_version=1)
    with transaction(sessions) as s, pytest.raises(EditConflict):
        update_campaign(s, cid, {"name": ""}, REGIONS, edit_version=1)


def test_of_two_edits_racing_from_one_version_exactly_one_lands(sessions: sessionmaker[Session]) -> None:
    """Both editors read version 1 and pass the version check before either writes: the compare-and-set
    lets one through and answers the other with a conflict (never a silent overwrite)."""
    cid = created(sessions)
    both_checked = threading.Barrier(2)
    outcomes: dict[str, str] = {}

    def edit(name: str) -> None:
        try:
            with transaction(sessions) as s:
                row = get_campaign(s, cid)
                assert row.edit_version == 1
                both_checked.wait(timeout=10)
                update_campaign(s, cid, definition(name=name), REGIONS, edit_version=1)
            outcomes[name] = "saved"
        except EditConflict:
            outcomes[name] = "conflict"

    threads = [threading.Thread(target=edit, args=(n,)) for n in ("alice", "bob")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes.values()) == ["conflict", "saved"]
    winner = next(n for n, o in outcomes.items() if o == "saved")
    with sessions() as s:
        row = get_campaign(s, cid)
        assert (row.name, row.edit_version) == (winner, 2)


def test_status_changes_do_not_move_the_edit_version(sessions: sessionmaker[Session]) -> None:
    cid = created(sessions)
    with transaction(sessions) as s:
        set_status(s, cid, Campaign.PAUSED, REGIONS)
    with transaction(sessions) as s:
        assert update_campaign(s, cid, definition(name="paused edit"), REGIONS, edit_version=1).edit_version == 2


# --- a create happens once per idempotency key -------------------------------------------------------


def count(sessions: sessionmaker[Session]) -> int:
    with sessions() as s:
        return int(s.scalar(select(func.count()).select_from(Campaign)) or 0)


def create(sessions: sessionmaker[Session], doc: dict[str, Any], key: str | None, owner: str = "ops") -> Any:
    with transaction(sessions) as s:
        result = create_campaign(s, doc, REGIONS, idempotency_key=key, owner=owner)
        return result.campaign.id, result.replayed


def test_a_repeated_create_returns_the_first_campaign(sessions: sessionmaker[Session]) -> None:
    assert create(sessions, definition(), "k-1") == (1, False)
    assert create(sessions, definition(), "k-1") == (1, True)
    assert count(sessions) == 1
    assert create(sessions, definition(), "k-2") == (2, False)  # a new key is a new campaign
    assert create(sessions, definition(), "k-1", owner="someone else") == (3, False)  # keys are per owner
    assert create(sessions, definition(), None) == (4, False)


def test_the_same_key_with_another_body_is_refused(sessions: sessionmaker[Session]) -> None:
    create(sessions, definition(), "k-1")
    with pytest.raises(IdempotencyKeyReused, match="different request"):
        create(sessions, definition(name="something else"), "k-1")
    assert count(sessions) == 1


def test_a_refused_create_does_not_use_up_its_key(sessions: sessionmaker[Session]) -> None:
    with pytest.raises(InvalidCampaign):
        create(sessions, definition(brand="acne"), "k-1")
    assert create(sessions, definition(), "k-1") == (1, False)  # the corrected body under the same key


def test_a_key_is_free_again_after_a_day(sessions: sessionmaker[Session]) -> None:
    create(sessions, definition(), "k-1")
    with transaction(sessions) as s:
        s.execute(update(IdempotencyKey).values(created_at=utcnow() - timedelta(seconds=KEY_SECONDS + 1)))
    assert create(sessions, definition(), "k-1") == (2, False)
    with sessions() as s:
        assert s.scalars(select(IdempotencyKey.campaign_id)).all() == [2]


def test_a_repeat_after_the_campaign_was_deleted_is_a_conflict(sessions: sessionmaker[Session]) -> None:
    create(sessions, definition(), "k-1")
    with transaction(sessions) as s:
        delete_campaign(s, 1)
    with pytest.raises(CampaignConflict, match="has been deleted"):
        create(sessions, definition(), "k-1")


def test_a_double_submit_racing_creates_one_campaign(sessions: sessionmaker[Session]) -> None:
    """Two requests with one key at the same moment: one creates, the other waits at the key's unique
    index and gets the same campaign."""
    start = threading.Barrier(4)
    results: list[Any] = []

    def submit() -> None:
        start.wait(timeout=10)
        results.append(create(sessions, definition(), "double-click"))

    threads = [threading.Thread(target=submit) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert count(sessions) == 1
    assert sorted(results) == [(1, False), (1, True), (1, True), (1, True)]


# --- clone -----------------------------------------------------------------------------------------


def test_a_clone_is_a_new_draft_with_the_same_definition(sessions: sessionmaker[Session]) -> None:
    cid = created(sessions)
    with transaction(sessions) as s:
        set_status(s, cid, Campaign.ACTIVE, REGIONS)
    clone: Callable[..., Any] = clone_campaign
    with transaction(sessions) as s:
        copy = clone(s, cid, REGIONS).campaign
        named = clone(s, cid, REGIONS, name="广东 一月").campaign
        source = get_campaign(s, cid)
        assert (copy.status, copy.name, copy.edit_version) == ("draft", "广东首扫必中 (副本)", 1)
        assert copy.definition == {**source.definition, "name": "广东首扫必中 (副本)"}
        assert named.name == named.definition["name"] == "广东 一月"
        # The source is exclusive and live: the clone overlaps it, which a draft may; going live may not.
        with pytest.raises(InvalidCampaign) as caught:
            set_status(s, copy.id, Campaign.ACTIVE, REGIONS)
        assert caught.value.problems[0].field == "exclusive"


def test_a_clone_under_a_key_happens_once(sessions: sessionmaker[Session]) -> None:
    cid = created(sessions)
    for _ in range(2):
        with transaction(sessions) as s:
            clone_campaign(s, cid, REGIONS, idempotency_key="clone-form-nonce", owner="ops")
    assert count(sessions) == 2
    with transaction(sessions) as s, pytest.raises(IdempotencyKeyReused):
        clone_campaign(s, cid, REGIONS, name="other name", idempotency_key="clone-form-nonce", owner="ops")


def test_a_key_whose_first_request_left_no_result_is_a_conflict(sessions: sessionmaker[Session]) -> None:
    # Claim and result commit together, so this takes a key row written some other way (by hand, a bug):
    # the request is refused rather than guessed at.
    from rules.idempotency import IdempotencyKeyPending, request_hash

    with transaction(sessions) as s:
        s.add(IdempotencyKey(owner="ops", key="k-1", request_hash=request_hash("create", definition())))
    with pytest.raises(IdempotencyKeyPending):
        create(sessions, definition(), "k-1")
    assert count(sessions) == 0
