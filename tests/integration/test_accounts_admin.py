"""Managing a brand's users and tokens on real SQL (SQLite and PostgreSQL): who may, what is refused, and
that every change lands in the audit log, which the database itself keeps append-only."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from accounts.audit import AuditFilter, list_changes, record_change
from accounts.errors import AccountConflict, AccountForbidden, AccountNotFound, InvalidAccount
from accounts.members import add_member, change_role, list_members, remove_member, set_member_disabled
from accounts.models import ApiToken, AuditEntry
from accounts.roles import Principal
from accounts.token_admin import create_personal_token, revoke_visible_token, visible_tokens
from accounts.tokens import resolve_token
from accounts.users import authenticate, change_own_password, create_user, grant_role, principal_for
from codegen import batches
from codegen.db import make_engine, make_sessionmaker, transaction
from schema import upgrade_schema

PASSWORD = "correct horse battery staple"


@pytest.fixture
def sessions(database_url: str) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(database_url)
    upgrade_schema(engine)
    yield make_sessionmaker(engine)
    engine.dispose()


@pytest.fixture
def world(sessions: sessionmaker[Session]) -> dict[str, int]:
    """Brands a and b; in a: an admin, an operator, an analyst; in b: an admin."""
    ids: dict[str, int] = {}
    with transaction(sessions) as s:
        for slug in ("a", "b"):
            ids[slug] = batches.add_brand(s, slug, f"Brand {slug}", f"https://{slug}.example").id
        for email, brand, role in (("admin@a.cn", "a", "admin"), ("op@a.cn", "a", "operator"),
                                   ("an@a.cn", "a", "analyst"), ("admin@b.cn", "b", "admin")):
            user = create_user(s, email, PASSWORD)
            grant_role(s, user, ids[brand], role)
            ids[email] = user.id
    return ids


def who(sessions: sessionmaker[Session], user_id: int) -> Principal:
    with sessions() as s:
        from accounts.users import get_user

        return principal_for(get_user(s, user_id))


def audit(sessions: sessionmaker[Session], action: str = "") -> list[AuditEntry]:
    with sessions() as s:
        return list(reversed(list_changes(s, AuditFilter(action=action))))


def test_an_admin_adds_a_new_user_with_a_one_time_password_and_it_is_audited(sessions, world) -> None:  # type: ignore[no-untyped-def]
    admin = who(sessions, world["admin@a.cn"])
    with transaction(sessions) as s:
        added = add_member(s, admin, world["a"], " New@A.cn ", "小新", "analyst")
    assert added.created and added.email == "new@a.cn" and added.password and len(added.password) >= 16
    with transaction(sessions) as s:
        assert authenticate(s, "new@a.cn", added.password) is not None
        assert [(m.email, m.role) for m in list_members(s, admin, world["a"])] == [
            ("admin@a.cn", "admin"), ("an@a.cn", "analyst"), ("new@a.cn", "analyst"), ("op@a.cn", "operator")]
    [entry] = audit(sessions, "user.create")
    assert entry.actor == f"user:{world['admin@a.cn']} admin@a.cn" and entry.brand_id == world["a"]
    assert entry.after == {"email": "new@a.cn", "name": "小新", "role": "analyst", "password": "generated"}
    assert added.password not in str(entry.after)


def test_an_existing_user_gets_the_role_and_keeps_their_password(sessions, world) -> None:  # type: ignore[no-untyped-def]
    admin_b = who(sessions, world["admin@b.cn"])
    with transaction(sessions) as s:
        added = add_member(s, admin_b, world["b"], "op@a.cn", "ignored", "analyst", password="ignored too!")
    assert not added.created and added.password is None and added.user_id == world["op@a.cn"]
    with transaction(sessions) as s:
        assert authenticate(s, "op@a.cn", PASSWORD) is not None
    [entry] = audit(sessions, "user.role")
    assert entry.before == {"email": "op@a.cn", "role": None} and entry.after == {"email": "op@a.cn", "role": "analyst"}


def test_the_admin_may_set_the_password_but_not_a_weak_one(sessions, world) -> None:  # type: ignore[no-untyped-def]
    admin = who(sessions, world["admin@a.cn"])
    with pytest.raises(InvalidAccount, match=r"^password:"), transaction(sessions) as s:
        add_member(s, admin, world["a"], "weak@a.cn", "", "operator", password="short")
    with transaction(sessions) as s:
        added = add_member(s, admin, world["a"], "set@a.cn", "", "operator", password="a chosen passphrase")
        assert added.password is None
        assert authenticate(s, "set@a.cn", "a chosen passphrase") is not None
    assert [e.after["password"] for e in audit(sessions, "user.create")] == ["set by the admin"]


@pytest.mark.parametrize("actor, brand, expected", [
    ("op@a.cn", "a", AccountForbidden),  # sees the brand, role too low
    ("an@a.cn", "a", AccountForbidden),
    ("admin@b.cn", "a", AccountNotFound),  # another brand: as if it did not exist
])
def test_only_the_brands_admin_manages_its_users(sessions, world, actor, brand, expected) -> None:  # type: ignore[no-untyped-def]
    caller = who(sessions, world[actor])
    target = world["an@a.cn"]
    for change in (lambda s: list_members(s, caller, world[brand]),
                   lambda s: add_member(s, caller, world[brand], "x@a.cn", "", "analyst"),
                   lambda s: change_role(s, caller, world[brand], target, "operator"),
                   lambda s: remove_member(s, caller, world[brand], target),
                   lambda s: set_member_disabled(s, caller, world[brand], target, True)):
        with pytest.raises(expected), transaction(sessions) as s:
            change(s)
    assert audit(sessions) == []


def test_another_brands_user_id_reads_as_missing(sessions, world) -> None:  # type: ignore[no-untyped-def]
    admin_b = who(sessions, world["admin@b.cn"])
    with pytest.raises(AccountNotFound), transaction(sessions) as s:
        change_role(s, admin_b, world["b"], world["op@a.cn"], "analyst")  # op@a.cn is not in brand b
    with pytest.raises(AccountNotFound), transaction(sessions) as s:
        set_member_disabled(s, admin_b, world["b"], world["op@a.cn"], True)


def test_a_brand_keeps_an_admin(sessions, world) -> None:  # type: ignore[no-untyped-def]
    admin = who(sessions, world["admin@a.cn"])
    for change in (lambda s: change_role(s, admin, world["a"], world["admin@a.cn"], "operator"),
                   lambda s: remove_member(s, admin, world["a"], world["admin@a.cn"])):
        with pytest.raises(AccountConflict, match="at least one admin"), transaction(sessions) as s:
            change(s)
    with transaction(sessions) as s:  # with a second admin, the first may step down
        change_role(s, admin, world["a"], world["op@a.cn"], "admin")
        change_role(s, admin, world["a"], world["admin@a.cn"], "operator")
    entries = audit(sessions, "user.role")
    assert [(e.before["role"], e.after["role"]) for e in entries] == [("operator", "admin"), ("admin", "operator")]


def test_removing_a_user_revokes_their_tokens_in_that_brand(sessions, world) -> None:  # type: ignore[no-untyped-def]
    op = who(sessions, world["op@a.cn"])
    with transaction(sessions) as s:
        _, secret = create_personal_token(s, op, world["a"], "operator", "ci", 30)
    with transaction(sessions) as s:
        assert resolve_token(s, secret) is not None
        assert remove_member(s, who(sessions, world["admin@a.cn"]), world["a"], world["op@a.cn"]) == 1
    with transaction(sessions) as s:
        assert resolve_token(s, secret) is None
        assert s.scalar(select(ApiToken.revoked_at)) is not None
    [entry] = audit(sessions, "user.remove")
    assert entry.after == {"email": "op@a.cn", "role": None, "tokens_revoked": 1}


def test_disabling_a_user_of_another_brand_too_is_refused(sessions, world) -> None:  # type: ignore[no-untyped-def]
    admin_a = who(sessions, world["admin@a.cn"])
    with transaction(sessions) as s:
        add_member(s, who(sessions, world["admin@b.cn"]), world["b"], "an@a.cn", "", "analyst")
    with pytest.raises(AccountConflict, match="another brand"), transaction(sessions) as s:
        set_member_disabled(s, admin_a, world["a"], world["an@a.cn"], True)
    with pytest.raises(AccountConflict, match="your own"), transaction(sessions) as s:
        set_member_disabled(s, admin_a, world["a"], world["admin@a.cn"], True)
    with transaction(sessions) as s:
        set_member_disabled(s, admin_a, world["a"], world["op@a.cn"], True)
        assert authenticate(s, "op@a.cn", PASSWORD) is None
    with transaction(sessions) as s:
        set_member_disabled(s, admin_a, world["a"], world["op@a.cn"], False)
        assert authenticate(s, "op@a.cn", PASSWORD) is not None
    assert [e.action for e in audit(sessions, "user.")] == ["user.role", "user.disable", "user.enable"]


def test_tokens_are_seen_and_revoked_by_their_owner_or_the_brands_admin(sessions, world) -> None:  # type: ignore[no-untyped-def]
    op, an, admin_a, admin_b = (who(sessions, world[e]) for e in ("op@a.cn", "an@a.cn", "admin@a.cn", "admin@b.cn"))
    with transaction(sessions) as s:
        op_token, _ = create_personal_token(s, op, world["a"], "analyst", "reports", 7)
        an_token, _ = create_personal_token(s, an, world["a"], "analyst", "notebook", 7)
        b_token, _ = create_personal_token(s, admin_b, world["b"], "admin", "b ops", 7)
        ids = {"op": op_token.id, "an": an_token.id, "b": b_token.id}
    with sessions() as s:
        assert {t.id for t in visible_tokens(s, op)} == {ids["op"]}
        assert {t.id for t in visible_tokens(s, an)} == {ids["an"]}
        assert {t.id for t in visible_tokens(s, admin_a)} == {ids["op"], ids["an"]}
        assert {t.id for t in visible_tokens(s, admin_b)} == {ids["b"]}
    with pytest.raises(AccountForbidden), transaction(sessions) as s:
        revoke_visible_token(s, an, ids["op"])  # same brand, someone else's token, not admin
    with pytest.raises(AccountNotFound), transaction(sessions) as s:
        revoke_visible_token(s, admin_b, ids["op"])  # another brand's token reads as missing
    with transaction(sessions) as s:
        revoke_visible_token(s, an, ids["an"])
        revoke_visible_token(s, admin_a, ids["op"])
    with pytest.raises(AccountConflict), transaction(sessions) as s:
        revoke_visible_token(s, admin_a, ids["op"])
    revokes = audit(sessions, "token.revoke")
    assert [e.target for e in revokes] == [f"token:{ids['an']}", f"token:{ids['op']}"]
    assert revokes[0].before["revoked_at"] is None and revokes[0].after["revoked_at"] is not None


def test_a_token_cannot_outrank_its_owner_nor_reach_another_brand(sessions, world) -> None:  # type: ignore[no-untyped-def]
    op = who(sessions, world["op@a.cn"])
    with pytest.raises(InvalidAccount, match=r"^role:"), transaction(sessions) as s:
        create_personal_token(s, op, world["a"], "admin", "too strong", 7)
    with pytest.raises(AccountNotFound), transaction(sessions) as s:
        create_personal_token(s, op, world["b"], "analyst", "other brand", 7)
    with transaction(sessions) as s:
        row, secret = create_personal_token(s, op, world["a"], "operator", "deploy", 30)
        assert secret.startswith("yima_pat_") and row.secret_hash != secret
    [entry] = audit(sessions, "token.create")
    assert entry.after["prefix"] == row.prefix and secret not in str(entry.after)


def test_changing_ones_password_needs_the_current_one_and_ends_other_sessions(sessions, world) -> None:  # type: ignore[no-untyped-def]
    uid = world["op@a.cn"]
    with pytest.raises(InvalidAccount, match=r"^current_password:"), transaction(sessions) as s:
        change_own_password(s, uid, "not my password", "a brand new passphrase")
    with transaction(sessions) as s:
        from accounts.users import get_user

        before = get_user(s, uid).session_epoch
        epoch = change_own_password(s, uid, PASSWORD, "a brand new passphrase")
    assert epoch == before + 1
    with transaction(sessions) as s:
        assert authenticate(s, "op@a.cn", PASSWORD) is None
        assert authenticate(s, "op@a.cn", "a brand new passphrase") is not None
    [entry] = audit(sessions, "user.password")
    assert "passphrase" not in str(entry.after)


def test_the_audit_log_refuses_update_and_delete(sessions) -> None:  # type: ignore[no-untyped-def]
    """Append-only in the database itself (triggers of migration 0007), on SQLite and on PostgreSQL."""
    with transaction(sessions) as s:
        record_change(s, "test", "campaign.create", "campaign:1", brand_id=None, after={"name": "x"})
    for statement in ("UPDATE audit_log SET actor = 'someone else'", "DELETE FROM audit_log"):
        with pytest.raises(DBAPIError, match="append-only"), transaction(sessions) as s:
            s.execute(text(statement))
    with sessions() as s:
        [entry] = s.scalars(select(AuditEntry)).all()
        assert entry.actor == "test" and entry.after == {"name": "x"}
    if sessions.kw["bind"].dialect.name == "postgresql":
        with pytest.raises(DBAPIError, match="append-only"), transaction(sessions) as s:
            s.execute(text("TRUNCATE audit_log"))


def test_expired_tokens_read_as_expired(sessions, world) -> None:  # type: ignore[no-untyped-def]
    op = who(sessions, world["op@a.cn"])
    with transaction(sessions) as s:
        create_personal_token(s, op, world["a"], "analyst", "short", 1)
    with sessions() as s:
        [row] = visible_tokens(s, op)
    assert row.state() == "active"
    assert row.state(datetime.now(UTC) + timedelta(days=2)) == "expired"


def test_the_audit_date_filter_honours_offsets_on_both_backends(sessions) -> None:  # type: ignore[no-untyped-def]
    from zoneinfo import ZoneInfo

    with transaction(sessions) as s:
        entry = record_change(s, "test", "batch.void", "batch:1", brand_id=None)
        at = entry.at if entry.at.tzinfo else entry.at.replace(tzinfo=UTC)
    china = at.astimezone(ZoneInfo("Asia/Shanghai"))  # the same instant written eight hours ahead
    second = timedelta(seconds=1)
    with sessions() as s:
        assert len(list_changes(s, AuditFilter(since=china - second, until=china + second))) == 1
        assert list_changes(s, AuditFilter(since=china + second)) == []
        assert list_changes(s, AuditFilter(until=china - second)) == []
