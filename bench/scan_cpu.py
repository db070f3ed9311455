"""CPU seconds each party of a scan-bench measurement spent: app server, Redis, PostgreSQL, load generator.

Read from /proc around a measurement: the app server's whole process tree (master and workers), the
Redis server's process, the PostgreSQL backends connected to the bench's database, this process and the
children it waited for (wrk), and the machine's busy time, so whatever else ran meanwhile shows as
"other" and a missed target says what dominated.
"""

from __future__ import annotations

import contextlib
import os
import resource
import time
from dataclasses import dataclass

CLK_TCK = os.sysconf("SC_CLK_TCK")
NCPU = os.cpu_count() or 1


def _proc_cpu(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK
    except (OSError, IndexError, ValueError):
        return 0.0


def children(pid: int) -> list[int]:
    """Process ids of the children of every thread of `pid`."""
    out: list[int] = []
    with contextlib.suppress(OSError):
        for task in os.listdir(f"/proc/{pid}/task"):
            with contextlib.suppress(OSError), open(f"/proc/{pid}/task/{task}/children") as fh:
                out.extend(int(x) for x in fh.read().split())
    return out


def tree(pid: int) -> list[int]:
    """`pid` and all its descendants (a server's master and workers)."""
    out, todo = [pid], [pid]
    while todo and len(out) < 1000:
        for child in children(todo.pop()):
            out.append(child)
            todo.append(child)
    return out


def _backends_cpu(database: str) -> dict[int, float]:
    """CPU of each PostgreSQL backend connected to `database` (its title names it), by pid. The machine's
    PostgreSQL may serve others meanwhile: their backends are not the bench's."""
    out: dict[int, float] = {}
    marker = f" {database} ".encode()
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                with open(f"/proc/{entry.name}/cmdline", "rb") as fh:
                    title = fh.read()
            except OSError:
                continue
            if title.startswith(b"postgres:") and marker in title:
                out[int(entry.name)] = _proc_cpu(int(entry.name))
    return out


def _machine_busy() -> float:
    with open("/proc/stat") as fh:
        parts = [int(x) for x in fh.readline().split()[1:]]
    idle = parts[3] + (parts[4] if len(parts) > 4 else 0)
    return (sum(parts[:8]) - idle) / CLK_TCK


def _self_and_children_cpu() -> tuple[float, float]:
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime, kids.ru_utime + kids.ru_stime


@dataclass
class CpuMeter:
    """CPU seconds spent by each party between start() and stop()."""

    server_pid: int
    redis_pid: int | None
    pg_database: str = ""

    def _snap(self) -> dict[str, float]:
        me, kids = _self_and_children_cpu()
        return {
            "t": time.perf_counter(),
            "app": sum(_proc_cpu(p) for p in tree(self.server_pid)),
            "redis": _proc_cpu(self.redis_pid) if self.redis_pid else 0.0,
            "self": me,
            "children": kids,
            "busy": _machine_busy(),
        }

    def start(self) -> None:
        self._a = self._snap()
        self._pg = _backends_cpu(self.pg_database) if self.pg_database else {}

    def stop(self) -> dict[str, float]:
        b = self._snap()
        d = {k: b[k] - self._a[k] for k in b}
        # Per backend, so one that ended meanwhile cannot make the sum negative (its last share is lost).
        pg_now = _backends_cpu(self.pg_database) if self.pg_database else {}
        d["pg"] = sum(max(0.0, cpu - self._pg.get(pid, 0.0)) for pid, cpu in pg_now.items())
        loadgen = d["self"] + d["children"]
        accounted = d["app"] + d["redis"] + d["pg"] + loadgen
        return {"seconds": d["t"], "app": d["app"], "redis": d["redis"], "pg": d["pg"], "loadgen": loadgen,
                "other": max(0.0, d["busy"] - accounted), "busy": d["busy"]}
