"""Where the scan benchmark's processes run on this one box.

In production Redis and PostgreSQL are servers of their own (DESIGN §5: REDIS_URL, DATABASE_URL; app nodes
are stateless gunicorn boxes), so "the scan's throughput on the same server settings as a bare Flask
endpoint" compares what one app server does with and without the scan's work. On a small box that shares
its cores with the data tier, the comparison also charges the scan for Redis' own CPU and for the
scheduler moving four busy processes over two cores, which no production app server pays.

    split   the app server alone on the first half of the CPUs; the load generator, Redis and PostgreSQL
            (every task of each) on the other half: the production shape, where clients and the data
            tier are other machines. Every variant gets the same app CPUs.
    shared  no pinning: everything may run on every CPU, as on a one-box install.

`pinned(...)` pins the data tier and this process (so the load generators it starts) to `rest_cpus` and
always restores every affinity it changed, including those of PostgreSQL backends forked meanwhile (they
inherit the postmaster's). The caller starts the app server on `app_cpus`.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass


class LayoutError(Exception):
    pass


@dataclass(frozen=True)
class Layout:
    name: str
    app_cpus: frozenset[int]
    rest_cpus: frozenset[int]

    @property
    def server_cpus(self) -> frozenset[int] | None:
        """Where to start the app server: its own CPUs when split, anywhere (None) when shared."""
        return self.app_cpus if self.name == "split" else None

    def describe(self) -> str:
        if self.name == "shared":
            return f"shared: app, load generator, Redis and PostgreSQL on all {len(self.app_cpus)} CPUs"
        return (f"split: the app server alone on CPU {_cpus(self.app_cpus)}; load generator, Redis and PostgreSQL "
                f"on CPU {_cpus(self.rest_cpus)} (other machines in production, DESIGN §5)")


def _cpus(cpus: frozenset[int]) -> str:
    return ",".join(str(c) for c in sorted(cpus))


def plan(name: str, cpus: set[int] | frozenset[int] | None = None) -> Layout:
    available = sorted(cpus if cpus is not None else os.sched_getaffinity(0))
    if name == "shared":
        return Layout("shared", frozenset(available), frozenset(available))
    if name != "split":
        raise LayoutError(f"unknown layout {name!r}: use split or shared")
    if len(available) < 2:
        raise LayoutError("the split layout needs at least 2 CPUs")
    half = len(available) // 2
    return Layout("split", frozenset(available[:half]), frozenset(available[half:]))


def _comm(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/comm") as fh:
            return fh.read().strip()
    except OSError:
        return ""


def data_tier_tasks(redis_pid: int | None) -> list[int]:
    """Thread ids of the Redis server and of every local PostgreSQL process."""
    pids = [int(e.name) for e in os.scandir("/proc") if e.name.isdigit() and _comm(int(e.name)) == "postgres"]
    if redis_pid:
        pids.append(redis_pid)
    return [tid for pid in pids for tid in _tasks(pid)]


def unusable(layout: Layout, redis_pid: int | None) -> str | None:
    """Why `layout` cannot be applied here (None if it can): Redis elsewhere, or not ours to pin."""
    if layout.name == "shared":
        return None
    if not redis_pid or not _tasks(redis_pid):
        return "Redis is not a process on this machine"
    for tid in data_tier_tasks(redis_pid):
        try:
            os.sched_setaffinity(tid, os.sched_getaffinity(tid))  # a no-op that needs the same rights
        except ProcessLookupError:
            continue
        except PermissionError:
            return f"no permission to set the CPU affinity of process {tid}"
    return None


@contextlib.contextmanager
def pinned(layout: Layout, redis_pid: int | None) -> Iterator[Layout]:
    """Pin the data tier and this process (and so every child it starts from now on) to `rest_cpus`."""
    if layout.name == "shared":
        yield layout
        return
    own = os.sched_getaffinity(0)
    saved: dict[int, set[int]] = {}
    try:
        for tid in data_tier_tasks(redis_pid):
            try:
                saved[tid] = os.sched_getaffinity(tid)
                os.sched_setaffinity(tid, layout.rest_cpus)
            except ProcessLookupError:
                saved.pop(tid, None)
            except PermissionError as exc:
                raise LayoutError(f"cannot pin process {tid} ({exc.strerror}); use --layout shared") from None
        os.sched_setaffinity(0, layout.rest_cpus)
        yield layout
    finally:
        os.sched_setaffinity(0, own)
        fallback = set(own).union(*saved.values())
        for tid in data_tier_tasks(redis_pid):  # includes backends forked while pinned
            with contextlib.suppress(OSError):
                os.sched_setaffinity(tid, saved.get(tid, fallback))


def _tasks(pid: int) -> list[int]:
    """Thread ids of a process ([] if it exited)."""
    try:
        return [int(t) for t in os.listdir(f"/proc/{pid}/task")]
    except OSError:
        return []


def autogroup_nice(pid: int, nice: int | None = None) -> int | None:
    """The nice of `pid`'s scheduler autogroup (its session's share of the CPU against other sessions when
    the kernel groups by session), set to `nice` if given; None where there is no autogroup."""
    path = f"/proc/{pid}/autogroup"
    try:
        with open(path) as fh:
            before = int(fh.read().split("nice")[1])
        if nice is not None:
            with open(path, "w") as fh:
                fh.write(str(nice))
    except (OSError, IndexError, ValueError):
        return None
    return before


def _autogroups_enabled() -> bool:
    try:
        with open("/proc/sys/kernel/sched_autogroup_enabled") as fh:
            return fh.read().strip() == "1"
    except OSError:
        return False


@contextlib.contextmanager
def prioritized(nice: int, redis_pid: int | None) -> Iterator[None]:
    """Run this process (so every server and load generator it starts from now on) and the local Redis at
    nice `nice` (negative: ahead of the machine's other work), and put both back on exit. For a shared box,
    where other people's jobs would otherwise decide the figures; 0 changes nothing.

    Where the kernel shares the CPU between sessions first (autogroups), a process' nice only counts inside
    its session: the sessions of this process and of Redis get `nice` too, and every server started in a
    session of its own must be given it (`autogroup_nice(server_pid, nice)`)."""
    if nice == 0:
        yield
        return
    own = os.getpriority(os.PRIO_PROCESS, 0)
    saved: dict[int, int] = {}
    groups: dict[int, int] = {}
    try:
        for tid in _tasks(redis_pid) if redis_pid else []:
            with contextlib.suppress(ProcessLookupError):
                saved[tid] = os.getpriority(os.PRIO_PROCESS, tid)
                os.setpriority(os.PRIO_PROCESS, tid, nice)
        os.setpriority(os.PRIO_PROCESS, 0, nice)
        if _autogroups_enabled():
            for pid in {os.getpid(), *([redis_pid] if redis_pid else [])}:
                before = autogroup_nice(pid, nice)
                if before is not None:
                    groups[pid] = before
    except PermissionError as exc:
        raise LayoutError(f"cannot set nice {nice} ({exc.strerror}): needs root, or leave --nice at 0") from None
    try:
        yield
    finally:
        with contextlib.suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, 0, own)
        for tid, prio in saved.items():
            with contextlib.suppress(OSError):
                os.setpriority(os.PRIO_PROCESS, tid, prio)
        for pid, before in reversed(groups.items()):  # last set first: Redis may share this session's group
            autogroup_nice(pid, before)
