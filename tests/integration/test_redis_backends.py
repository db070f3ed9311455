"""The test backends themselves: the parametrized fixtures reach a real cluster, and the CI helper
(`python -m tests.support.redis_cluster start`) is idempotent and repairs a broken cluster."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from redis.cluster import RedisCluster, key_slot

from tests.support.backends import BACKENDS, RedisBackend, cluster_addresses, connect
from tests.support.redis_cluster import cluster_problem, free_port_range, node_client


def test_the_backend_under_test_serves_keys_of_every_slot(redis_backend: RedisBackend, redis_any) -> None:  # type: ignore[no-untyped-def]
    keys = [f"{{c:{i}}}:spent" for i in range(40)]
    for key in keys:
        redis_any.set(key, 1)
    assert sum(int(redis_any.get(k)) for k in keys) == 40
    assert len({key_slot(k.encode()) for k in keys}) > 1
    assert isinstance(redis_any, RedisCluster) is redis_backend.is_cluster
    if redis_backend.is_cluster:  # the keys are spread over the masters, not all on one node
        assert len({redis_any.get_node_from_key(k).port for k in keys}) > 1
        assert redis_backend.queue_url != redis_backend.url


def test_each_test_starts_on_an_empty_backend(redis_any) -> None:  # type: ignore[no-untyped-def]
    assert redis_any.dbsize() == 0  # on a cluster: the sum over every master
    redis_any.set("left-behind", 1)  # the next test (and the next parameter) must not see it


def test_cluster_urls_list_every_startup_node() -> None:
    assert cluster_addresses("redis+cluster://127.0.0.1:7000,10.0.0.2:7001/0") == [("127.0.0.1", 7000),
                                                                                  ("10.0.0.2", 7001)]
    assert cluster_addresses("redis+cluster://:secret@h:7000") == [("h", 7000)]


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tests.support.redis_cluster", *args],
                          capture_output=True, text=True, timeout=120, check=False)


@pytest.mark.slow
@pytest.mark.skipif("cluster" not in BACKENDS, reason="YIMA_TEST_REDIS_BACKENDS leaves out the cluster")
def test_the_ci_start_is_idempotent_and_repairs_a_broken_cluster(tmp_path: Path) -> None:
    ports = free_port_range(3)
    spec, workdir = f"{ports[0]}-{ports[-1]}", str(tmp_path / "cluster")
    try:
        first = cli("start", "--ports", spec, "--dir", workdir)
        assert first.returncode == 0 and "created in" in first.stdout, first.stderr
        with connect(f"redis+cluster://127.0.0.1:{ports[0]}") as client:
            client.set("kept", "yes")
        again = cli("start", "--ports", spec, "--dir", workdir)
        assert "left as it is" in again.stdout
        with connect(f"redis+cluster://127.0.0.1:{ports[0]}") as client:
            assert client.get("kept") == b"yes"  # a healthy cluster is not touched

        with node_client(ports[1]) as node:
            node.execute_command("CLUSTER", "RESET", "HARD")  # one node leaves: the cluster is broken
        assert cli("status", "--ports", spec).returncode == 1
        repaired = cli("start", "--ports", spec, "--dir", workdir)
        assert repaired.returncode == 0 and "reset (" in repaired.stdout, repaired.stderr
        assert cluster_problem(ports) is None and cli("status", "--ports", spec).returncode == 0
    finally:
        cli("stop", "--ports", spec)
    assert cli("status", "--ports", spec).returncode == 1


def test_the_ci_helper_refuses_bad_ports() -> None:
    done = cli("start", "--ports", "60000-60002")
    assert done.returncode == 2 and "bus" in done.stderr
