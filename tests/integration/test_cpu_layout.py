"""bench/cpu_layout.pinned on real processes: a stand-in "Redis" child is pinned and everything is restored."""

from __future__ import annotations

import contextlib
import os
import subprocess

import pytest

from bench import cpu_layout

pytestmark = pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs 2 CPUs")


def test_pinned_splits_and_restores_every_affinity() -> None:
    before_self = os.sched_getaffinity(0)
    stand_in = subprocess.Popen(["sleep", "30"])
    try:
        before_child = os.sched_getaffinity(stand_in.pid)
        before_pg = {}
        for tid in cpu_layout.data_tier_tasks(None):
            with contextlib.suppress(ProcessLookupError):  # a PostgreSQL backend that ended since it was listed
                before_pg[tid] = os.sched_getaffinity(tid)
        layout = cpu_layout.plan("split")
        assert cpu_layout.unusable(layout, stand_in.pid) is None
        with cpu_layout.pinned(layout, stand_in.pid):
            assert os.sched_getaffinity(0) == layout.rest_cpus
            assert os.sched_getaffinity(stand_in.pid) == layout.rest_cpus
            with subprocess.Popen(["sleep", "30"]) as load_child:  # started while pinned: a load generator
                assert os.sched_getaffinity(load_child.pid) == layout.rest_cpus
                load_child.kill()
        assert os.sched_getaffinity(0) == before_self
        assert os.sched_getaffinity(stand_in.pid) == before_child
        for tid, cpus in before_pg.items():
            try:
                assert os.sched_getaffinity(tid) == cpus
            except ProcessLookupError:
                continue  # a PostgreSQL backend that ended meanwhile
    finally:
        stand_in.kill()
        stand_in.wait()


@pytest.mark.skipif(os.geteuid() != 0, reason="a negative nice needs root")
def test_prioritized_renices_this_process_its_new_children_and_redis_then_restores_them() -> None:
    before = os.getpriority(os.PRIO_PROCESS, 0)
    group_before = cpu_layout.autogroup_nice(os.getpid())  # None: the kernel has no session groups
    stand_in = subprocess.Popen(["sleep", "30"])  # the "Redis"
    try:
        with cpu_layout.prioritized(-3, stand_in.pid):
            assert os.getpriority(os.PRIO_PROCESS, 0) == -3
            assert os.getpriority(os.PRIO_PROCESS, stand_in.pid) == -3
            if group_before is not None:
                assert cpu_layout.autogroup_nice(os.getpid()) == -3
            with subprocess.Popen(["sleep", "30"]) as server:  # started meanwhile: an app server
                assert os.getpriority(os.PRIO_PROCESS, server.pid) == -3
                server.kill()
        assert os.getpriority(os.PRIO_PROCESS, 0) == before
        assert os.getpriority(os.PRIO_PROCESS, stand_in.pid) == before
        assert cpu_layout.autogroup_nice(os.getpid()) == group_before
    finally:
        stand_in.kill()
        stand_in.wait()
