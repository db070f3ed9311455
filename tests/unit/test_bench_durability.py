"""The durability bench's helpers: the percentile it prints and the disk it says the AOF went to."""

from __future__ import annotations

import math

from bench.bench_durability import filesystem_of, percentile

MOUNTS = """\
/dev/vda / ext4 rw,relatime 0 0
proc /proc proc rw 0 0
tmpfs /tmp tmpfs rw 0 0
/dev/vdb /tmp/disk\\040two ext4 rw 0 0
/dev/vdc /srv xfs rw 0 0
/dev/vdd /srv xfs rw 0 0
"""


def test_percentile_is_a_measured_value_by_nearest_rank() -> None:
    values = [float(v) for v in range(100, 0, -1)]  # 1..100, unsorted
    assert percentile(values, 50) == 50
    assert percentile(values, 99) == 99
    assert percentile(values, 100) == 100
    assert percentile(values, 0) == 1
    assert percentile([2.0, 1.0, 4.0], 50) == 2  # not the interpolated 2.5 of a mean of neighbours
    assert percentile([7.0], 99) == 7
    assert math.isnan(percentile([], 50))


def test_the_deepest_mount_holding_the_path_is_the_one_reported() -> None:
    assert filesystem_of("/tmp/yima-durability-x", MOUNTS) == ("/tmp", "tmpfs", "tmpfs")
    assert filesystem_of("/tmp/disk two/aof", MOUNTS) == ("/tmp/disk two", "/dev/vdb", "ext4")
    assert filesystem_of("/tmpfoo/x", MOUNTS) == ("/", "/dev/vda", "ext4")  # a prefix is not a parent
    assert filesystem_of("/work", MOUNTS) == ("/", "/dev/vda", "ext4")
    assert filesystem_of("/srv", MOUNTS) == ("/srv", "/dev/vdd", "xfs")  # the later mount hides the earlier
