"""Real Redis for the tests: one redis-server, and a Redis Cluster of three masters with a replica
each (redis-server in cluster mode, joined by `redis-cli --cluster create`), both on free ports.

A test's servers share Redis with others' only through a `RedisTarget`: a database of its own on the
one server, a key prefix of its own on the cluster (which has database 0 only)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vidpulse.server.backends.redis.connection import GROUP, Keys

if TYPE_CHECKING:
    from tests.support.servers import Server


@dataclass(frozen=True)
class RedisTarget:
    url: str
    cluster: bool = False
    prefix: str = "vp:"

    @property
    def keys(self) -> Keys:
        return Keys(self.prefix)

    def env(self) -> dict[str, object]:
        """A server's settings for it."""
        cluster = {"REDIS_CLUSTER": 1, "REDIS_PREFIX": self.prefix} if self.cluster else {}
        return {"BACKEND": "redis", "REDIS_URL": self.url, **cluster}

    def settings(self) -> dict[str, Any]:
        """The same, as `Settings` keywords."""
        return {"backend": "redis", "redis_url": self.url, "redis_cluster": self.cluster, "redis_prefix": self.prefix}

    def admin(self) -> Any:
        """The test's own (synchronous) client."""
        import redis
        from redis.cluster import RedisCluster

        if self.cluster:
            return RedisCluster.from_url(self.url, decode_responses=True)
        return redis.Redis.from_url(self.url, decode_responses=True)

    def nodes(self) -> list[Any]:
        """A client of each server (every node of the cluster)."""
        import redis

        admin = self.admin()
        if not self.cluster:
            return [admin]
        with admin:
            return [redis.Redis(host=n.host, port=n.port, decode_responses=True) for n in admin.get_nodes()]


def job_holder(hosts: list[Server], target: RedisTarget) -> Server:
    """The worker host that holds the one running job: the consumer that XPENDING names is the
    instance's name, which holds its pid (server/backends/redis/connection.py)."""
    with target.admin() as admin:
        pending = admin.xpending_range(target.keys.jobs, GROUP, min="-", max="+", count=10)
    assert len(pending) == 1, pending
    return next(h for h in hosts if h.process is not None and f"-{h.process.pid}-" in pending[0]["consumer"])


@dataclass
class RedisServer:
    port: int
    process: subprocess.Popen[bytes]
    next_db: int = 0

    def url(self) -> str:
        """A fresh database per call, so tests never see each other's keys."""
        self.next_db += 1
        return f"redis://127.0.0.1:{self.port}/{self.next_db % 256}"

    def target(self) -> RedisTarget:
        return RedisTarget(self.url())

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)

    def start(self) -> None:
        self.process = spawn_redis(self.port)


def spawn_redis(port: int, *options: str, cwd: Path | None = None) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                                "--appendonly", "no", "--databases", "256", *options],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=cwd)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return process
        time.sleep(0.05)
    raise RuntimeError("redis-server did not start")


@dataclass
class ClusterServer:
    """Three masters and three replicas; each node's cluster bus is on its port + 10000."""

    base: Path
    ports: list[int]
    node_timeout_ms: int
    processes: dict[int, subprocess.Popen[bytes]] = field(default_factory=dict)
    next_prefix: int = 0

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.ports[0]}/0"

    def target(self) -> RedisTarget:
        """A fresh key prefix per call, so tests never see each other's keys."""
        self.next_prefix += 1
        return RedisTarget(self.url, cluster=True, prefix=f"t{os.getpid()}-{self.next_prefix}:")

    def start_node(self, port: int) -> None:
        folder = self.base / str(port)
        folder.mkdir(parents=True, exist_ok=True)
        # Its nodes.conf remembers the cluster: a node started again rejoins (a killed master as a
        # replica of the one promoted meanwhile).
        self.processes[port] = spawn_redis(port, "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
                                           "--cluster-node-timeout", str(self.node_timeout_ms), cwd=folder)

    def kill(self, port: int) -> None:
        """SIGKILL: the node is gone at once, with whatever it had not passed on."""
        process = self.processes[port]
        process.send_signal(signal.SIGKILL)
        process.wait()

    def master_of(self, key: str) -> int:
        """The port of the master that serves the key's slot, as the first node alive that answers sees it."""
        import redis

        for port in (p for p in self.ports if self.processes[p].poll() is None):
            try:
                with redis.Redis(port=port, decode_responses=True, socket_timeout=2) as node:
                    slot = node.cluster("keyslot", key)
                    return next(int(master[1]) for start, end, master, *_ in node.cluster("slots")
                                if start <= slot <= end)
            except (redis.RedisError, StopIteration):
                continue
        raise RuntimeError("no node of the cluster knows who serves the slot")

    def wait_ok(self, timeout: float = 30) -> None:
        """Until every node says cluster_state:ok, knows all six, and each replica is in sync."""
        import redis

        deadline = time.monotonic() + timeout
        while True:
            try:
                if all(_settled(redis.Redis(port=port, decode_responses=True)) for port in self.ports):
                    return
            except redis.RedisError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"the cluster on {self.ports} did not settle")
            time.sleep(0.1)

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.kill()
                process.wait()


def _settled(node: Any) -> bool:
    with node:
        info = node.cluster("info")
        if info.get("cluster_state") != "ok" or int(info.get("cluster_known_nodes", 0)) != 6:
            return False
        replication = node.info("replication")
        return replication["role"] == "master" or replication.get("master_link_status") == "up"


def spawn_cluster(base: Path, ports: list[int], node_timeout_ms: int = 2000) -> ClusterServer:
    cluster = ClusterServer(base, ports, node_timeout_ms)
    try:
        for port in ports:
            cluster.start_node(port)
        subprocess.run(["redis-cli", "--cluster", "create", *(f"127.0.0.1:{p}" for p in ports),
                        "--cluster-replicas", "1", "--cluster-yes"], check=True, capture_output=True, timeout=60)
        cluster.wait_ok()
    except BaseException:
        cluster.stop()
        raise
    return cluster
