"""Award receipts: what was signed comes back whole; anything altered, mangled or foreign is refused."""

from __future__ import annotations

import pytest

from rules.receipts import AwardReceipt, InvalidReceipt, issue_receipt, read_receipt, receipt_key

KEY = receipt_key(b"k" * 32)
RECEIPT = AwardReceipt("12-1733146000000-0", 12, "10800001000000TZVPS0W7AHGYF2", 1, "inner", 5, 0, "cash", "红包",
                       388, 0, "", 3, "ab" * 16, 1_733_146_000, "20261202", True)


def test_round_trip() -> None:
    token = issue_receipt(KEY, RECEIPT)
    assert read_receipt(KEY, token) == RECEIPT and RECEIPT.entry_id == "1733146000000-0"


def test_every_single_character_change_is_refused() -> None:
    token = issue_receipt(KEY, RECEIPT)
    for i in range(len(token)):
        if token[i] == ".":
            continue
        changed = token[:i] + ("A" if token[i] != "A" else "B") + token[i + 1:]
        with pytest.raises(InvalidReceipt):
            read_receipt(KEY, changed)


@pytest.mark.parametrize("bad", ["", ".", "a.b.c", "x" * 601, None, 5, "!!!.???"])
def test_garbage_is_refused(bad: object) -> None:
    with pytest.raises(InvalidReceipt):
        read_receipt(KEY, bad)


def test_another_key_is_refused() -> None:
    with pytest.raises(InvalidReceipt):
        read_receipt(receipt_key(b"other" * 8), issue_receipt(KEY, RECEIPT))
