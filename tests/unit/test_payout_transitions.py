"""The payout state machine's rules, alone: reports only move forward; expiry is recognised whatever the
rail calls it; bill numbers are deterministic per award and attempt."""

from __future__ import annotations

from payouts.providers.base import TERMINAL, State, bill_number
from payouts.transitions import may_apply, outcome


def test_a_terminal_payout_never_moves() -> None:
    for terminal in TERMINAL:
        assert not any(may_apply(terminal, reported) for reported in State)


def test_awaiting_user_never_goes_back_to_submitted_or_unknown() -> None:
    assert not may_apply(State.AWAITING_USER, State.SUBMITTED)
    assert not may_apply(State.AWAITING_USER, State.UNKNOWN)
    assert may_apply(State.AWAITING_USER, State.SUCCEEDED)


def test_a_report_of_the_current_state_or_of_pending_changes_nothing() -> None:
    for state in State:
        assert not may_apply(state, state)
        assert not may_apply(state, State.PENDING)


def test_unknown_and_submitted_settle_either_way() -> None:
    assert may_apply(State.UNKNOWN, State.SUBMITTED) and may_apply(State.SUBMITTED, State.UNKNOWN)
    assert may_apply(State.UNKNOWN, State.AWAITING_USER) and may_apply(State.PENDING, State.SUCCEEDED)


def test_a_bill_closed_unconfirmed_is_an_expiry() -> None:
    assert outcome(State.FAILED, "OVERDUE_CLOSE") == State.EXPIRED
    assert outcome(State.CANCELLED, "OVERDUE_CLOSE") == State.EXPIRED
    assert outcome(State.FAILED, "TRANSFER_RISK") == State.FAILED


def test_bill_numbers_are_deterministic_and_new_per_attempt() -> None:
    award = "12-1773108000000-0"
    assert bill_number(award, 1, 32) == bill_number(award, 1, 32) != bill_number(award, 2, 32)
    long_award = "123456-1773108000000-12345"
    for length in (28, 32):
        number = bill_number(long_award, 3, length)
        assert len(number) <= length and number.isalnum()
