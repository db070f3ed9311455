"""The bench's CPU layouts: how CPUs are split between the app server and the data tier."""

from __future__ import annotations

import pytest

from bench import cpu_layout


def test_split_gives_the_app_the_first_half_and_everything_else_the_rest() -> None:
    two = cpu_layout.plan("split", {0, 1})
    assert (two.app_cpus, two.rest_cpus) == ({0}, {1})
    odd = cpu_layout.plan("split", {0, 1, 2, 3, 5})
    assert (odd.app_cpus, odd.rest_cpus) == ({0, 1}, {2, 3, 5})
    assert "CPU 0,1" in odd.describe() and "CPU 2,3,5" in odd.describe()


def test_shared_pins_nothing_and_split_needs_two_cpus() -> None:
    shared = cpu_layout.plan("shared", {0, 1})
    assert shared.app_cpus == shared.rest_cpus == {0, 1}
    with pytest.raises(cpu_layout.LayoutError, match="at least 2"):
        cpu_layout.plan("split", {3})
    with pytest.raises(cpu_layout.LayoutError, match="unknown layout"):
        cpu_layout.plan("diagonal", {0, 1})


def test_split_is_unusable_without_a_local_redis_process() -> None:
    split = cpu_layout.plan("split", {0, 1})
    assert cpu_layout.unusable(split, None) == "Redis is not a process on this machine"
    assert cpu_layout.unusable(split, 2**22 + 12345) == "Redis is not a process on this machine"
    assert cpu_layout.unusable(cpu_layout.plan("shared", {0, 1}), None) is None
