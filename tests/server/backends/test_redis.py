"""The Redis backend: several API instances and worker hosts share sessions, jobs and events. The
tests that take `redis_target` run on one redis-server and on a Redis Cluster alike."""

from __future__ import annotations

import asyncio
import concurrent.futures
import signal
import socket
import time

import httpx

from tests.support.client import assert_problem, follow, order, upload, upload_ok, wait_progress, wait_state
from tests.support.redisdb import RedisTarget, spawn_redis
from tests.support.servers import free_port


def _instances(start_server, target: RedisTarget):
    common = {**target.env(), "JOB_VISIBILITY_S": 3}
    a = start_server(WORKERS=0, **common)
    b = start_server(data_dir=a.data_dir, WORKERS=0, **common)
    return a, b, common


def test_upload_on_a_stream_from_b_run_on_a_worker_host(start_server, redis_target, clip):
    a, b, common = _instances(start_server, redis_target)
    start_server(data_dir=a.data_dir, command="worker", WORKERS=1, **common)
    session = upload_ok(a.client(), clip.path)
    events = follow(b.client(), session["id"], last_event_id="0")
    assert events[-1].type == "succeeded"
    assert b.client().get(f"/api/sessions/{session['id']}/results").json()["schema"] == 1
    ready = b.client().get("/readyz").json()
    assert ready["backend"] == {"name": "redis", "ok": True} and ready["workers"]["alive"] == 1
    listed = [s["id"] for s in a.client().get("/api/sessions").json()["items"]]
    assert listed == [session["id"]]


def test_killed_worker_host_is_replaced_and_the_stream_has_no_gap(start_server, redis_target, long_clip):
    a, b, common = _instances(start_server, redis_target)
    first = start_server(data_dir=a.data_dir, command="worker", WORKERS=1, **common)
    session = upload_ok(a.client(), long_clip.path, {"render": True})  # slow enough to be mid-job
    wait_state(a.client(), session["id"], {"running"})
    seen = follow(b.client(), session["id"], last_event_id="0", stop_after=6)
    start_server(data_dir=a.data_dir, command="worker", WORKERS=1, **common)
    first.stop(signal.SIGKILL)

    rest = follow(b.client(), session["id"], last_event_id=seen[-1].id)
    assert rest[-1].type == "succeeded", [(e.type, e.data) for e in rest if e.type != "progress"]
    ids = [order(e.id) for e in seen[1:] + rest[1:]]
    assert ids == sorted(set(ids)), "the stream goes on without a gap or a duplicate"
    full = follow(b.client(), session["id"], last_event_id="0")
    assert [e.body for e in full[1:]] == [e.body for e in seen[1:] + rest[1:]]
    assert [e.data["attempt"] for e in full if e.type == "started"] == [1, 2]


def test_cancel_through_b_stops_a_job_running_beside_a(start_server, redis_target, long_clip):
    common = redis_target.env()
    a = start_server(WORKERS=1, **common)
    b = start_server(data_dir=a.data_dir, WORKERS=0, **common)
    session = upload_ok(a.client(), long_clip.path)
    wait_progress(a.client(), session["id"], 5)
    asked = time.monotonic()
    assert b.client().post(f"/api/sessions/{session['id']}/cancel").status_code == 202
    wait_state(b.client(), session["id"], {"cancelled"}, timeout=5)
    assert time.monotonic() - asked < 1.5
    assert follow(a.client(), session["id"])[-1].type == "cancelled"


def test_redis_outage_answers_503_and_recovers(start_server, tmp_path, clip):
    port = free_port()
    redis = spawn_redis(port)
    try:
        server = start_server(BACKEND="redis", REDIS_URL=f"redis://127.0.0.1:{port}/0", WORKERS=1)
        client = server.client()
        redis.kill()
        redis.wait()
        assert client.get("/readyz").status_code == 503
        assert_problem(upload(client, clip.path), 503)
        assert_problem(client.get("/api/sessions"), 503)
        assert client.get("/healthz").status_code == 200

        redis = spawn_redis(port)
        deadline = time.monotonic() + 20
        while client.get("/readyz").status_code != 200:
            assert time.monotonic() < deadline, "the service recovers by itself"
            time.sleep(0.2)
        session = upload_ok(client, clip.path)
        assert wait_state(client, session["id"], {"succeeded"}, timeout=60)["state"] == "succeeded"
    finally:
        redis.kill()


def test_stream_ends_when_redis_goes_away(start_server, long_clip):
    port = free_port()
    redis = spawn_redis(port)
    try:
        server = start_server(BACKEND="redis", REDIS_URL=f"redis://127.0.0.1:{port}/0", WORKERS=1)
        client = server.client()
        session = upload_ok(client, long_clip.path)
        wait_state(client, session["id"], {"running"})
        started = time.monotonic()
        with httpx.stream("GET", f"{server.url}/api/sessions/{session['id']}/events", timeout=30) as response:
            redis.kill()
            body = b"".join(response.iter_bytes())
        assert time.monotonic() - started < 15
        assert body.startswith(b"retry: "), "the client was told how soon to come back"
    finally:
        redis.kill()


def test_socket_helper_port_is_free():
    with socket.socket() as sock:
        assert sock.connect_ex(("127.0.0.1", free_port())) != 0


def _acl(target: RedisTarget, *rule: str) -> None:
    """The same ACL rule on every server (a cluster's nodes keep their users each)."""
    for node in target.nodes():
        with node:
            node.execute_command("ACL", *rule)


def test_a_creation_cut_between_two_steps_leaves_nothing(start_server, redis_target, clip):
    """The server's Redis user may not write the job stream: the session is stored and listed, its
    job refused, and the creation undone: nothing listed, stored or on disk."""
    keys = redis_target.keys
    user = f"creator{free_port()}"
    _acl(redis_target, "SETUSER", user, "on", ">pw", "~*", "&*", "+@all")
    try:
        url = redis_target.url.replace("redis://", f"redis://{user}:pw@")
        server = start_server(**{**redis_target.env(), "REDIS_URL": url}, WORKERS=0)
        client = server.client()
        _acl(redis_target, "SETUSER", user, "resetkeys", f"~{keys.prefix}session*", f"~{keys.prefix}events:*",
             f"~{keys.queued}", f"~{keys.workers}", f"~{keys.reconcile}", f"~{keys.prefix}webhooks*", f"%R~{keys.jobs}")
        assert_problem(upload(client, clip.path), 503)
        _acl(redis_target, "SETUSER", user, "~*")
        assert client.get("/api/sessions").json()["items"] == []
        with redis_target.admin() as admin:
            assert admin.zcard(keys.queued) == 0 and admin.zcard(keys.sessions) == 0
            assert not admin.exists(keys.session("x")) and not server.session_dirs()
    finally:
        _acl(redis_target, "DELUSER", user)


def test_a_queued_session_whose_job_was_lost_runs_after_a_start(start_server, redis_target, clip):
    a, _, common = _instances(start_server, redis_target)
    session = upload_ok(a.client(), clip.path)
    with redis_target.admin() as admin:
        assert admin.xtrim(redis_target.keys.jobs, maxlen=0) == 1  # the job is gone, the session still says queued
    start_server(data_dir=a.data_dir, command="worker", WORKERS=1, **common)
    assert wait_state(a.client(), session["id"], {"succeeded", "failed"}, timeout=60)["state"] == "succeeded"
    events = follow(a.client(), session["id"], last_event_id="0")
    assert [e.type for e in events if e.type == "queued"] == ["queued", "queued"]
    assert events[-1].type == "succeeded"


def _metric(client: httpx.Client, name: str) -> float:
    for line in client.get("/metrics").text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rpartition(" ")[2])
    raise AssertionError(f"{name} is not in /metrics")


def test_a_dead_event_reader_is_logged_restarted_and_unready_meanwhile(start_server, redis_target, long_clip):
    """Notices the follower cannot decode kill it: each death is logged with its traceback, it
    starts again with backoff, /readyz says 503 meanwhile, and the live stream goes on to the end
    (the follower catches up from where it was)."""
    server = start_server(**redis_target.env(), WORKERS=1)
    client = server.client()
    session = upload_ok(client, long_clip.path, {"max_frames": 300})
    wait_state(client, session["id"], {"running"})
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        stream = pool.submit(follow, server.client(), session["id"])
        wait_progress(client, session["id"], 1)
        with redis_target.admin() as admin:
            for _ in range(3):
                admin.spublish(redis_target.keys.notices(session["id"]), "junk")
                time.sleep(0.1)
        statuses = set()
        deadline = time.monotonic() + 10
        while 503 not in statuses and time.monotonic() < deadline:
            statuses.add(client.get("/readyz").status_code)
            time.sleep(0.1)
        assert 503 in statuses, "a required loop is down: not ready"
        assert stream.result(timeout=90)[-1].type == "succeeded"
    deadline = time.monotonic() + 20
    while client.get("/readyz").status_code != 200:
        assert time.monotonic() < deadline
        time.sleep(0.2)
    assert _metric(client, 'vidpulse_task_restarts_total{task="redis-events"}') >= 1
    assert "background task redis-events died" in server.log() and "Traceback" in server.log()


def test_killed_redis_connections_go_unnoticed_by_a_live_stream(start_server, redis_target, long_clip):
    """Every connection killed (`CLIENT KILL`, commands' and subscriptions': a proxy restart)
    mid-stream, again and again: the stream goes on, on the same connection, with every logged event
    once, in order, through the terminal one."""
    server = start_server(**redis_target.env(), WORKERS=1, PROGRESS_HZ=20)
    client = server.client()
    # Rendered, so the job outlasts several kills however fast the machine decodes.
    session = upload_ok(client, long_clip.path, {"render": True})
    wait_state(client, session["id"], {"running"})
    nodes = redis_target.nodes()
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        stream = pool.submit(follow, server.client(), session["id"], "0")
        wait_progress(client, session["id"], 1)
        kills = 0
        while not stream.done() and kills < 5:
            killed = [node.client_kill_filter(_type=kind) for node in nodes for kind in ("pubsub", "normal")]
            kills += sum(killed) > 0
            time.sleep(0.4)
        live = stream.result(timeout=90)
    for node in nodes:
        node.close()
    assert kills >= 2
    assert live[-1].type == "succeeded", "the stream ended before the session did"
    logged = [e.id for e in follow(client, session["id"], last_event_id="0") if e.id is not None]
    assert [e.id for e in live if e.id is not None] == logged


async def test_a_follower_stops_when_it_is_cancelled_as_a_notice_arrives(tmp_path):
    """A loop waiting for notices stops at once when cancelled, even in the instant one arrives (a
    server stopping while events flow): asyncio.wait_for on Python 3.11 would swallow that cancel."""
    from vidpulse.server.backends.redis.connection import RedisConnection
    from vidpulse.server.backends.redis.notices import Subscriber
    from vidpulse.server.config import Settings

    subscriber = Subscriber(RedisConnection(Settings(data_dir=tmp_path, backend="redis")))

    async def follow() -> None:
        while True:
            await subscriber.next(1.0)

    for _ in range(5):
        task = asyncio.create_task(follow())
        await asyncio.sleep(0.01)
        subscriber.wake()
        task.cancel()
        await asyncio.wait({task}, timeout=3)
        assert task.cancelled(), "the loop went on after its cancel"
