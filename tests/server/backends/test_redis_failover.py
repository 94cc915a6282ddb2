"""A Redis Cluster failing over under a running session: the master that serves the session's slot
killed (SIGKILL), its replica promoted by the cluster itself, while the job runs and a client
follows its events. Its own cluster (cluster-node-timeout 1 s, so the failover takes seconds), which
the test leaves whole again: the killed node started again rejoins as a replica."""

from __future__ import annotations

import concurrent.futures
import shutil
import time
from collections.abc import Iterator

import pytest
import redis

from tests.support.client import Received, follow, order, upload_ok, wait_progress
from tests.support.redisdb import ClusterServer, spawn_cluster
from tests.support.servers import free_port_pairs, need

pytestmark = [pytest.mark.slow, pytest.mark.redis, pytest.mark.cluster]


@pytest.fixture(scope="module")
def failing_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClusterServer]:
    need("redis-server and redis-cli", all(shutil.which(tool) for tool in ("redis-server", "redis-cli")))
    cluster = spawn_cluster(tmp_path_factory.mktemp("failover"), free_port_pairs(6), node_timeout_ms=1000)
    yield cluster
    cluster.stop()


def _promoted(cluster: ClusterServer, key: str, old: int, timeout: float = 30) -> int:
    """Until another node serves the key's slot; its port."""
    deadline = time.monotonic() + timeout
    while (port := cluster.master_of(key)) == old:
        assert time.monotonic() < deadline, "the replica was not promoted"
        time.sleep(0.05)
    return port


def _logged_at(event: Received) -> float:
    """When Redis logged the event: its stream id's milliseconds."""
    assert event.id is not None
    return order(event.id)[0] / 1000


def test_a_master_killed_mid_session_loses_nothing(start_server, failing_cluster, long_clip):
    target = failing_cluster.target()
    common = {**target.env(), "JOB_VISIBILITY_S": 10}
    api = start_server(WORKERS=0, **common)
    start_server(data_dir=api.data_dir, command="worker", WORKERS=1, **common)
    client = api.client()
    # Rendered, so the job outlasts the failover however fast the machine decodes.
    session = upload_ok(client, long_clip.path, {"render": True})
    sid = session["id"]
    seen: list[Received] = []
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        stream = pool.submit(follow, api.client(), sid, "0", None, seen)
        wait_progress(client, sid, 10)
        key = target.keys.session(sid)
        killed = failing_cluster.master_of(key)
        killed_at = time.time()
        failing_cluster.kill(killed)
        promoted = _promoted(failing_cluster, key, killed)
        failover_s = time.time() - killed_at
        live = stream.result(timeout=150)

    assert live[-1].type == "succeeded", [(e.type, e.data) for e in live if e.type != "progress"]
    logged = follow(client, sid, "0")[1:]  # after the snapshot
    ids = [e.id for e in live[1:]]
    assert ids == [e.id for e in logged], "the client saw the log: every event once, in order"
    assert len(set(ids)) == len(ids) and [order(i) for i in ids if i] == sorted(order(i) for i in ids if i)
    assert [e.data["attempt"] for e in logged if e.type == "started"] == [1], "the job went on: no second attempt"
    assert [e for e in logged if _logged_at(e) > killed_at + failover_s], "the session ran on after the failover"
    print(f"failover of {killed} to {promoted}: {failover_s:.1f} s; {len(logged)} events, "
          f"{sum(_logged_at(e) > killed_at for e in logged)} after the kill")

    # The cluster whole again: the killed node, started again, rejoins as a replica of its successor.
    failing_cluster.start_node(killed)
    failing_cluster.wait_ok()
    with redis.Redis(port=killed, decode_responses=True) as node:
        assert node.info("replication")["role"] == "slave"
    assert client.get("/readyz").status_code == 200
