import pytest

from rules.members import InvalidMemberToken, Member, issue_member_token, read_member_token

SECRET = b"s" * 32
NOW = 1_800_000_000.0


def test_round_trip_and_new_member() -> None:
    m = Member("wx-openid-123", "gold", frozenset({"vip", "beer"}), NOW - 86_400)
    token = issue_member_token(SECRET, m, now=NOW)
    back = read_member_token(SECRET, token, now=NOW + 10)
    assert back == m and back.is_new(NOW) and not back.is_new(NOW + 8 * 86_400)
    assert m.member_id not in m.ref and len(m.ref) == 32


@pytest.mark.parametrize("mangle", [
    # a MAC symbol in the middle (the last one also carries padding bits base64 ignores)
    lambda t: t[:-8] + ("A" if t[-8] != "A" else "B") + t[-7:],
    lambda t: ("e" if t[0] != "e" else "f") + t[1:],
    lambda t: t.replace(".", ""),
    lambda t: "x" + t,
    lambda t: "",
])
def test_tampered_or_mangled_tokens_are_refused(mangle) -> None:  # type: ignore[no-untyped-def]
    token = issue_member_token(SECRET, Member("m1", "gold", frozenset(), NOW), now=NOW)
    with pytest.raises(InvalidMemberToken):
        read_member_token(SECRET, mangle(token), now=NOW)


def test_a_token_from_another_secret_or_expired_is_refused() -> None:
    token = issue_member_token(SECRET, Member("m1", None, frozenset(), NOW), ttl=60, now=NOW)
    with pytest.raises(InvalidMemberToken, match="signature"):
        read_member_token(b"other" * 8, token, now=NOW)
    with pytest.raises(InvalidMemberToken, match="expired"):
        read_member_token(SECRET, token, now=NOW + 61)


BAD_FIELDS = [("", None, []), ("a b", None, []), ("m", "go ld", []), ("m", None, ["x y"]),
              ("m", None, [f"t{i}" for i in range(33)])]


@pytest.mark.parametrize(("member_id", "tier", "tags"), BAD_FIELDS)
def test_bad_member_fields(member_id: str, tier: str | None, tags: list[str]) -> None:
    with pytest.raises(InvalidMemberToken):
        issue_member_token(SECRET, Member(member_id, tier, frozenset(tags), NOW))
