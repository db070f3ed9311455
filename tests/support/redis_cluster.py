"""A real Redis Cluster on local ports, built from the `redis-server` binary, for tests and CI.

Each node is a `redis-server --cluster-enabled yes` in its own directory (no persistence unless asked);
`redis-cli --cluster create … --cluster-replicas R --cluster-yes` joins them, and `start()` returns once
every node answers `cluster_state:ok`, all 16,384 slots are served and the nodes agree on who serves
them. Each node also listens on its port + 10000 (the cluster bus).

As a context manager (the nodes are children of the test process and end with it):

    with LocalCluster([17200, 17201, 17202], tmp_path) as cluster:
        client = cluster.client()

From a shell, for CI (the nodes are daemons that outlive the command; `start` is idempotent: a cluster
already up and ok on those ports is left alone, a broken one is reset and created again):

    python -m tests.support.redis_cluster start --ports 7000-7002 --dir /tmp/yima-cluster [--replicas 1]
    python -m tests.support.redis_cluster status --ports 7000-7002
    python -m tests.support.redis_cluster stop --ports 7000-7002

Failover helpers for tests: `kill(port)` (SIGKILL, a host that dies), `failover(replica, takeover=True)`
(`CLUSTER FAILOVER TAKEOVER` on a replica), `wait_ok()` (until the live nodes agree again) and
`restart(port)` (the same node, id and directory, rejoins: as a replica when it was failed over).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import redis
from redis.backoff import NoBackoff
from redis.cluster import ClusterNode, RedisCluster
from redis.retry import Retry

SLOTS = 16384
BUS_OFFSET = 10000
HOST = "127.0.0.1"


class ClusterError(RuntimeError):
    """The cluster could not be started, formed or brought back to `cluster_state:ok` in time."""


@dataclass(frozen=True)
class NodeInfo:
    """One line of CLUSTER NODES, as far as the helpers need it."""

    node_id: str
    port: int
    is_master: bool
    master_id: str | None
    failed: bool
    slots: int


def parse_ports(spec: str) -> list[int]:
    """'7000-7002' or '7000,7001,7002' → [7000, 7001, 7002]."""
    ports: list[int] = []
    for part in spec.split(","):
        low, _, high = part.strip().partition("-")
        ports.extend(range(int(low), int(high or low) + 1))
    if not ports or any(not 0 < p < 65536 - BUS_OFFSET for p in ports):
        raise ValueError(f"ports must lie in 1..{65535 - BUS_OFFSET} (the bus listens on port + {BUS_OFFSET}): {spec}")
    return ports


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as redis-server binds: TIME_WAIT is no obstacle
        try:
            s.bind((HOST, port))
        except OSError:
            return False
        return True


def free_port_range(count: int, low: int = 20000, high: int = 30000) -> list[int]:
    """`count` consecutive ports whose cluster-bus ports (+10000) are free too; YIMA_TEST_CLUSTER_PORTS
    (e.g. '17200-17209') restricts the search, so agents sharing a machine keep to their own ranges."""
    spec = os.environ.get("YIMA_TEST_CLUSTER_PORTS", "")
    if spec:
        low, high = (int(x) for x in spec.split("-"))
    start = low + os.getpid() % max(1, high - low - count) if not spec else low
    candidates = list(range(start, high - count + 2)) + list(range(low, start))
    for base in candidates:
        ports = list(range(base, base + count))
        if all(_port_free(p) and _port_free(p + BUS_OFFSET) for p in ports):
            return ports
    raise ClusterError(f"no {count} consecutive free ports (and bus ports) in {low}-{high}")


def node_client(port: int, timeout: float = 2.0) -> redis.Redis:
    # No retries: redis-py's default back-off would turn every probe of a stopped node into a second.
    return redis.Redis(host=HOST, port=port, socket_timeout=timeout, socket_connect_timeout=timeout,
                       retry=Retry(NoBackoff(), 0))


def _answers(port: int) -> bool:
    with contextlib.suppress(redis.RedisError, OSError), node_client(port, 0.5) as c:
        return bool(c.ping())
    return False


def cluster_nodes(port: int) -> list[NodeInfo]:
    """CLUSTER NODES as seen from the node on `port`."""
    with node_client(port) as c:
        raw = c.execute_command("CLUSTER", "NODES")  # split: raw text, not redis-py's dict
    text = raw.decode() if isinstance(raw, bytes) else str(raw)
    nodes = []
    for line in text.strip().splitlines():
        fields = line.split()
        address, flags = fields[1], fields[2].split(",")
        slots = 0
        for part in fields[8:]:
            if part.startswith("["):
                continue  # a slot being migrated or imported
            low, _, high = part.partition("-")
            slots += int(high or low) - int(low) + 1
        nodes.append(NodeInfo(node_id=fields[0], port=int(address.split("@")[0].rsplit(":", 1)[1]),
                              is_master="master" in flags, master_id=None if fields[3] == "-" else fields[3],
                              failed="fail" in flags or "fail?" in flags, slots=slots))
    return nodes


def _slot_map(port: int) -> list[tuple[int, int, int]]:
    """(first slot, last slot, serving master's port), sorted: what the node on `port` believes."""
    with node_client(port) as c:
        ranges = c.execute_command("CLUSTER", "SLOTS")
    return sorted((int(r[0]), int(r[1]), int(r[2][1])) for r in ranges)


def cluster_problem(ports: Iterable[int]) -> str | None:
    """Why the nodes on `ports` (those that answer) are not one healthy cluster, or None when they are:
    every answering node says `cluster_state:ok` with all slots ok, and all of them agree on the slot map."""
    live = [p for p in ports if _answers(p)]
    if not live:
        return "no node answers"
    maps = set()
    for port in live:
        try:
            with node_client(port) as c:
                info = c.execute_command("CLUSTER", "INFO")
        except redis.ResponseError as exc:
            return f"{HOST}:{port} is not in cluster mode ({exc})"
        text = info.decode() if isinstance(info, bytes) else str(info)
        fields = dict(line.split(":", 1) for line in text.split() if ":" in line)
        if fields.get("cluster_state") != "ok":
            return f"{HOST}:{port} says cluster_state:{fields.get('cluster_state')}"
        if fields.get("cluster_slots_ok") != str(SLOTS):
            return f"{HOST}:{port} has {fields.get('cluster_slots_ok')} of {SLOTS} slots ok"
        maps.add(tuple(_slot_map(port)))
    if len(maps) != 1:
        return "the nodes do not agree on the slot map yet"
    slot_map = next(iter(maps))
    served = sum(high - low + 1 for low, high, _ in slot_map)
    if served != SLOTS:
        return f"{served} of {SLOTS} slots are served"
    silent = sorted(port for port in {port for _, _, port in slot_map} if port not in live and not _answers(port))
    return f"slots are still served by {silent}, which do not answer" if silent else None


def wait_ok(ports: Iterable[int], timeout: float = 30.0) -> None:
    """Until the answering nodes among `ports` form one healthy cluster (see `cluster_problem`)."""
    ports = list(ports)
    deadline = time.monotonic() + timeout
    problem = cluster_problem(ports)
    while problem is not None:
        if time.monotonic() > deadline:
            raise ClusterError(f"cluster on {ports} not ok after {timeout:.0f} s: {problem}")
        time.sleep(0.1)
        problem = cluster_problem(ports)


def reset_node(port: int) -> None:
    """Empty a node and make it forget its cluster, so it can be joined into a new one."""
    with node_client(port) as c:
        with contextlib.suppress(redis.ResponseError):  # a replica refuses FLUSHALL until it is reset
            c.flushall()
        c.execute_command("CLUSTER", "RESET", "HARD")
        c.flushall()


def create_cluster(ports: Sequence[int], replicas: int = 0, cli: str = "redis-cli", timeout: float = 60.0) -> None:
    """`redis-cli --cluster create` over running, empty cluster-mode nodes, then wait until ok."""
    if len(ports) < 3 * (replicas + 1):
        raise ClusterError(f"{len(ports)} nodes cannot make 3 masters with {replicas} replica(s) each")
    args = [cli, "--cluster", "create", *(f"{HOST}:{p}" for p in ports),
            "--cluster-replicas", str(replicas), "--cluster-yes"]
    done = subprocess.run(args, capture_output=True, text=True, timeout=timeout, check=False)
    if done.returncode != 0 or "[OK]" not in done.stdout:
        raise ClusterError(f"{' '.join(args)} failed ({done.returncode}):\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    wait_ok(ports, timeout)
    if replicas:
        _wait_replicas_in_sync(ports, timeout)


def _wait_replicas_in_sync(ports: Sequence[int], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    for port in ports:
        with node_client(port) as c:
            while c.info("replication").get("role") == "slave" and \
                    c.info("replication").get("master_link_status") != "up":
                if time.monotonic() > deadline:
                    raise ClusterError(f"replica {HOST}:{port} did not sync with its master in {timeout:.0f} s")
                time.sleep(0.1)


class LocalCluster:
    """Nodes on `ports` under `workdir`; `replicas` per master (masters = len(ports) // (replicas + 1)).

    `daemonize`: the nodes outlive this object (CI); otherwise they are child processes that `stop()` ends.
    `persist`: AOF on (appendfsync everysec), else no persistence at all.
    """

    def __init__(self, ports: Sequence[int], workdir: Path, *, replicas: int = 0, persist: bool = False,
                 daemonize: bool = False, node_timeout_ms: int = 2000, binary: str = "redis-server",
                 cli: str = "redis-cli") -> None:
        self.ports, self.workdir, self.replicas = list(ports), Path(workdir), replicas
        self.persist, self.daemonize, self.node_timeout_ms = persist, daemonize, node_timeout_ms
        self.binary, self.cli = binary, cli
        self._procs: dict[int, subprocess.Popen[bytes]] = {}

    @property
    def url(self) -> str:
        """The `redis+cluster://` URL the app and the tests take (every node listed)."""
        return "redis+cluster://" + ",".join(f"{HOST}:{p}" for p in self.ports)

    def node_dir(self, port: int) -> Path:
        return self.workdir / str(port)

    def _node_args(self, port: int) -> list[str]:
        d = self.node_dir(port)
        args = [self.binary, "--port", str(port), "--bind", HOST, "--dir", str(d),
                "--logfile", str(d / "redis.log"), "--cluster-enabled", "yes",
                "--cluster-config-file", str(d / "nodes.conf"), "--cluster-node-timeout", str(self.node_timeout_ms),
                "--save", "", "--appendonly", "yes" if self.persist else "no"]
        if self.daemonize:
            args += ["--daemonize", "yes", "--pidfile", str(d / "redis.pid")]
        return args

    def start_node(self, port: int, timeout: float = 10.0) -> None:
        """Start the node on `port` with whatever its directory holds (a fresh node when it is empty)."""
        self.node_dir(port).mkdir(parents=True, exist_ok=True)
        if self.daemonize:
            subprocess.run(self._node_args(port), check=True, stdin=subprocess.DEVNULL)
        else:
            self._procs[port] = subprocess.Popen(self._node_args(port), stdin=subprocess.DEVNULL,
                                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while not _answers(port):
            proc = self._procs.get(port)
            if time.monotonic() > deadline or (proc is not None and proc.poll() is not None):
                log = self.node_dir(port) / "redis.log"
                tail = log.read_text(errors="replace")[-1500:] if log.exists() else ""
                raise ClusterError(f"{self.binary} did not start on {HOST}:{port}:\n{tail}")
            time.sleep(0.05)

    def start(self, timeout: float = 60.0) -> LocalCluster:
        """Fresh nodes (their directories emptied), joined into one cluster, ok on return."""
        busy = [p for p in self.ports if not (_port_free(p) and _port_free(p + BUS_OFFSET))]
        if busy:
            raise ClusterError(f"ports (or their bus ports +{BUS_OFFSET}) already in use: {busy}")
        try:
            for port in self.ports:
                shutil.rmtree(self.node_dir(port), ignore_errors=True)
                self.start_node(port)
            create_cluster(self.ports, self.replicas, self.cli, timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        for port in self.ports:
            self.shutdown(port)

    def shutdown(self, port: int) -> None:
        """A clean SHUTDOWN NOSAVE of one node (nothing written)."""
        proc = self._procs.pop(port, None)
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        elif _answers(port):
            with contextlib.suppress(redis.RedisError, OSError), node_client(port) as c:
                c.shutdown(nosave=True)
            _wait_closed(port)

    def kill(self, port: int) -> None:
        """SIGKILL the node on `port`: no goodbye to its peers, as when its host dies."""
        proc = self._procs.pop(port, None)
        if proc is not None:
            proc.kill()
            proc.wait()
            return
        pidfile = self.node_dir(port) / "redis.pid"
        os.kill(int(pidfile.read_text().strip()), signal.SIGKILL)
        _wait_closed(port)

    def restart(self, port: int, down_for: float = 0.0) -> None:
        """Start a stopped or killed node again from its own directory (same node id, same nodes.conf)."""
        if port in self._procs or _answers(port):
            self.kill(port)
        time.sleep(down_for)
        self.start_node(port)

    def nodes(self) -> list[NodeInfo]:
        """CLUSTER NODES from the first node that answers."""
        for port in self.ports:
            if _answers(port):
                return cluster_nodes(port)
        raise ClusterError(f"no node of {self.ports} answers")

    def masters(self) -> list[int]:
        """Ports of the healthy masters that serve slots."""
        return sorted(n.port for n in self.nodes() if n.is_master and n.slots and not n.failed)

    def replicas_of(self, master_port: int) -> list[int]:
        nodes = self.nodes()
        master = next(n for n in nodes if n.port == master_port)
        return sorted(n.port for n in nodes if n.master_id == master.node_id)

    def master_of_slot(self, slot: int) -> int:
        for port in self.ports:
            if _answers(port):
                return next(p for low, high, p in _slot_map(port) if low <= slot <= high)
        raise ClusterError(f"no node of {self.ports} answers")

    def failover(self, replica_port: int, *, takeover: bool = True, timeout: float = 30.0) -> None:
        """`CLUSTER FAILOVER [TAKEOVER]` on a replica, then wait until it is a master and the cluster is ok.
        TAKEOVER needs no agreement from the master (or the others): it works when the master is dead."""
        with node_client(replica_port) as c:
            c.execute_command("CLUSTER", "FAILOVER", *(["TAKEOVER"] if takeover else []))
            deadline = time.monotonic() + timeout
            while c.info("replication").get("role") != "master":
                if time.monotonic() > deadline:
                    raise ClusterError(f"{HOST}:{replica_port} did not become a master in {timeout:.0f} s")
                time.sleep(0.05)
        self.wait_ok(timeout)

    def wait_ok(self, timeout: float = 30.0) -> None:
        wait_ok(self.ports, timeout)

    def client(self, **options: object) -> RedisCluster:
        return RedisCluster(startup_nodes=[ClusterNode(HOST, p) for p in self.ports], **options)  # type: ignore[arg-type]

    def flush(self) -> None:
        """Empty every master (replicas follow)."""
        for port in self.masters():
            with node_client(port) as c:
                c.flushall()

    def __enter__(self) -> LocalCluster:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


def _wait_closed(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while _answers(port) and time.monotonic() < deadline:
        time.sleep(0.05)


def ensure_cluster(ports: Sequence[int], workdir: Path, replicas: int = 0) -> str:
    """CI's idempotent start: leave a healthy cluster on `ports` alone; otherwise reset the nodes that
    answer, start those that do not, and create the cluster. Returns what it did, for the log."""
    answering = [p for p in ports if _answers(p)]
    if len(answering) == len(ports):
        problem = cluster_problem(ports)
        members = {n.port for n in cluster_nodes(ports[0])} if problem is None else set()
        if problem is None and members == set(ports):
            return f"cluster on {HOST}:{ports[0]}-{ports[-1]} already up and ok: left as it is"
    else:
        problem = f"{len(ports) - len(answering)} of {len(ports)} nodes down"
    cluster = LocalCluster(ports, workdir, replicas=replicas, daemonize=True)
    for port in answering:
        try:
            reset_node(port)
        except redis.ResponseError as exc:
            raise ClusterError(f"{HOST}:{port} answers but cannot join a cluster ({exc}); stop it first") from exc
    for port in ports:
        if port not in answering:
            if not (_port_free(port) and _port_free(port + BUS_OFFSET)):
                raise ClusterError(f"{HOST}:{port} (or its bus port) is held by something that is not Redis")
            shutil.rmtree(cluster.node_dir(port), ignore_errors=True)
            cluster.start_node(port)
    create_cluster(ports, replicas)
    how = "created" if not answering else f"reset ({problem}) and created again"
    return f"cluster on {HOST}:{ports[0]}-{ports[-1]} {how}"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.support.redis_cluster", description=__doc__.split("\n")[0])
    parser.add_argument("action", choices=["start", "stop", "status"])
    parser.add_argument("--ports", required=True, help="e.g. 7000-7002 or 7000,7001,7002")
    parser.add_argument("--dir", default=None, help="node directories (start); default: a dir under $TMPDIR")
    parser.add_argument("--replicas", type=int, default=0, help="replicas per master (start)")
    args = parser.parse_args(argv)
    try:
        ports = parse_ports(args.ports)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        if args.action == "start":
            workdir = Path(args.dir or Path(os.environ.get("TMPDIR", "/tmp")) / f"yima-redis-cluster-{ports[0]}")
            started = time.monotonic()
            print(f"{ensure_cluster(ports, workdir, args.replicas)} in {time.monotonic() - started:.1f} s", flush=True)
        elif args.action == "stop":
            LocalCluster(ports, Path(args.dir or ".")).stop()
            print(f"nodes on {HOST}:{ports[0]}-{ports[-1]} stopped")
        else:
            down = [p for p in ports if not _answers(p)]
            problem = f"{HOST}:{down} do not answer" if down else cluster_problem(ports)
            print(f"cluster on {HOST}:{ports[0]}-{ports[-1]}: {problem or 'ok'}")
            return 0 if problem is None else 1
    except ClusterError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
