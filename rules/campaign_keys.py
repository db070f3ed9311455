"""Every Redis key of a campaign, and nothing else names them: the `{c:<id>}` family.

All share the hash tag `{c:<id>}`, so the draw, the restore and the counter repair each stay in the
campaign's one Cluster slot (tests/unit/test_key_slots.py):

    {c:<id>}:req:<scan id>            STRING  a draw's reply, replayed to a retried call (short TTL)
    {c:<id>}:drawn:<batch>:<role>     BITMAP  bit <serial>: the code has drawn (one draw per code)
    {c:<id>}:award:<code>             STRING  the code's award, kept to show it again
    {c:<id>}:spent / :spent:<day>     counter fen paid out in cash, whole campaign / that local day
    {c:<id>}:qty / :qty:<day>         HASH    prize index → awarded, whole campaign / that day
    {c:<id>}:mem:<member>[:<day>]     counter awards to one member (whole campaign / that day)
    {c:<id>}:nth                      counter scans counted for "every Nth scan"
    {c:<id>}:awards                   STREAM  every award, drained into the SQL ledger
    {c:<id>}:coupons:<prize index>    LIST    uploaded coupon codes of one prize, popped by the draw

Every campaign's award stream is also listed in the set `yima:award-streams` (a plain key).
"""

from __future__ import annotations

AWARD_STREAMS = "yima:award-streams"


def campaign_tag(campaign_id: int) -> str:
    return f"{{c:{campaign_id}}}"


def campaign_of(stream: str) -> int:
    """The campaign id of one of its keys, e.g. its award stream."""
    return int(stream.split("}", 1)[0].removeprefix("{c:"))


def counter_keys(campaign_id: int, day: str) -> tuple[str, str, str, str]:
    """(spent, spent that day, quantities, quantities that day): what the ledger guards."""
    tag = campaign_tag(campaign_id)
    return f"{tag}:spent", f"{tag}:spent:{day}", f"{tag}:qty", f"{tag}:qty:{day}"


def memo_key(campaign_id: int, code: str) -> str:
    return f"{campaign_tag(campaign_id)}:award:{code}"


def drawn_key(campaign_id: int, batch_id: int, role: str) -> str:
    return f"{campaign_tag(campaign_id)}:drawn:{batch_id}:{role}"


def coupon_key(campaign_id: int, prize_index: int) -> str:
    return f"{campaign_tag(campaign_id)}:coupons:{prize_index}"


def awards_key(campaign_id: int) -> str:
    return f"{campaign_tag(campaign_id)}:awards"


def member_keys(campaign_id: int, member: str, day: str) -> tuple[str, str]:
    """A member's award counters, whole campaign and that day ("-" stands for no member)."""
    tag, who = campaign_tag(campaign_id), member or "-"
    return f"{tag}:mem:{who}", f"{tag}:mem:{who}:{day}"


def draw_keys(campaign_id: int, *, scan_id: str, batch_id: int, role: str, code: str, member: str,
              day: str) -> list[str]:
    """KEYS 1-11 of rules/draw.lua, in its documented order (the coupon lists follow)."""
    tag = campaign_tag(campaign_id)
    spent, spent_day, qty, qty_day = counter_keys(campaign_id, day)
    return [
        f"{tag}:req:{scan_id}",
        drawn_key(campaign_id, batch_id, role),
        memo_key(campaign_id, code),
        spent,
        spent_day,
        qty,
        qty_day,
        *member_keys(campaign_id, member, day),
        f"{tag}:nth",
        awards_key(campaign_id),
    ]


def restore_keys(campaign_id: int, *, batch_id: int, role: str, code: str, member: str, day: str) -> list[str]:
    """KEYS for rules/restore.lua: the draw's keys for the award's own day, less the replay guard and the
    Nth counter, which a restore does not touch."""
    keys = draw_keys(campaign_id, scan_id="", batch_id=batch_id, role=role, code=code, member=member, day=day)
    return keys[1:9] + keys[10:11]
