"""Stopping never fails a running session: SIGTERM or SIGINT, sent to the whole process group as a
terminal's Ctrl-C or systemd does, reaches the workers too; they ignore it, and the server or worker
host hands the job back (memory: at its next start; Redis: to another host at once)."""

from __future__ import annotations

import json
import os
import signal
import socket
import threading
import time
from datetime import datetime

import pytest

from tests.support.client import Received, follow, upload_ok, wait_progress
from tests.support.redisdb import job_holder
from tests.support.servers import Server
from vidpulse.client import Client, Event
from vidpulse.server.models import EventType


def _group_gone(server: Server, timeout: float = 15) -> bool:
    """Every process of the server's group has exited: the fork server and the workers too."""
    assert server.process is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.killpg(server.process.pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.1)
    return False


def _hold_a_connection(server: Server) -> socket.socket:
    """An upload that never sends its body: uvicorn waits for it (up to 20 s) before stopping."""
    host, port = server.url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)))
    sock.sendall(b"POST /api/sessions HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\n"
                 b"Content-Length: 1000000\r\n\r\n--b\r\n")
    return sock


def _watch(client: Client, session_id: str, into: list[Event], errors: list[BaseException]) -> threading.Thread:
    def watch() -> None:
        try:
            into.extend(client.watch(session_id))
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


@pytest.mark.slow
@pytest.mark.parametrize("signals", [("SIGTERM",), ("SIGINT",), ("SIGINT", "SIGINT")],
                         ids=["sigterm", "ctrl-c", "ctrl-c-twice"])
def test_a_signal_to_the_servers_group_hands_the_job_back_to_the_next_start(start_server, tmp_path, long_clip,
                                                                            signals):
    server = start_server(data_dir=tmp_path / "data", own_group=True, WORKERS=1)
    assert server.process is not None
    watched: list[Event] = []
    errors: list[BaseException] = []
    with Client(server.url) as client:
        session = client.upload(long_clip.path, {"render": True})
        thread = _watch(client, session.id, watched, errors)
        wait_progress(server.client(), session.id, 10)
        held = _hold_a_connection(server) if len(signals) > 1 else None
        for name in signals:
            os.killpg(server.process.pid, signal.Signals[name])
            time.sleep(0.5)
        # One signal: uvicorn drains connections, then the lifespan stops the runtime. A second Ctrl-C
        # skips the drain: the exit comes well before uvicorn's 20 s wait for the held upload.
        server.process.wait(15)
        assert _group_gone(server), "the workers and the fork server ended with their server"
        manifest = json.loads((server.data_dir / session.id / "session.json").read_text())
        assert (manifest["state"], manifest["attempts"], manifest["interrupted"]) == ("queued", 1, 1)
        if held is not None:
            held.close()

        server.start()
        thread.join(120)
        assert not thread.is_alive() and not errors, errors

    assert watched[-1].type is EventType.SUCCEEDED
    logged = follow(server.client(), session.id, watched[0].data.last_event_id)[1:]
    assert [e.id for e in watched[1:]] == [e.id for e in logged], "every event once, in order"
    whole = follow(server.client(), session.id, last_event_id="0")[1:]
    assert [e.data["attempt"] for e in whole if e.type == "started"] == [1, 2]
    assert "failed" not in [e.type for e in whole]


@pytest.mark.slow
def test_attempts_handed_back_do_not_count_towards_the_limit(start_server, tmp_path, long_clip):
    server = start_server(data_dir=tmp_path / "data", WORKERS=1)
    session = upload_ok(server.client(), long_clip.path)
    wait_progress(server.client(), session["id"], 10)
    server.stop(signal.SIGTERM)
    manifest_path = server.data_dir / session["id"] / "session.json"
    manifest = json.loads(manifest_path.read_text())
    assert (manifest["attempts"], manifest["interrupted"]) == (1, 1)
    # As if two attempts had crashed before this one was handed back: 3 started, 2 of them counted.
    manifest_path.write_text(json.dumps({**manifest, "attempts": 3}))

    server.start()
    events = follow(server.client(), session["id"], last_event_id="0")
    assert events[-1].type == "succeeded", events[-1].body
    assert [e.data["attempt"] for e in events if e.type == "started"] == [1, 4]


def _ts(event: Received) -> float:
    return datetime.fromisoformat(event.body["ts"].replace("Z", "+00:00")).timestamp()


@pytest.mark.slow
@pytest.mark.redis
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["sigterm", "ctrl-c"])
def test_a_stopping_worker_host_hands_its_job_to_another_at_once(start_server, redis_server, long_clip, sig):
    # JOB_VISIBILITY_S far beyond the test: only a job handed back can be taken over in it.
    target = redis_server.target()
    common = {**target.env(), "JOB_VISIBILITY_S": 600}
    api = start_server(WORKERS=0, **common)
    hosts = [start_server(data_dir=api.data_dir, command="worker", own_group=True, WORKERS=1, **common)
             for _ in range(2)]
    session = upload_ok(api.client(), long_clip.path, {"render": True})
    wait_progress(api.client(), session["id"], 10)
    leaving = job_holder(hosts, target)
    assert leaving.process is not None

    stopped_at = time.time()
    os.killpg(leaving.process.pid, sig)
    assert leaving.process.wait(30) == 0
    assert _group_gone(leaving)
    events = follow(api.client(), session["id"], last_event_id="0")

    assert events[-1].type == "succeeded"
    assert [e.data["attempt"] for e in events if e.type == "started"] == [1, 2]
    second = next(i for i, e in enumerate(events) if e.type == "started" and e.data["attempt"] == 2)
    assert events[second - 1].type == "queued", "handed back ahead of the queue, then started elsewhere"
    first_progress = next(e for e in events[second:] if e.type == "progress")
    print(f"\ntakeover after {signal.Signals(sig).name}: {_ts(events[second]) - stopped_at:.1f} s to `started`, "
          f"{_ts(first_progress) - stopped_at:.1f} s to the first progress")
    doc = api.client().get(f"/api/sessions/{session['id']}").json()
    assert doc["state"] == "succeeded"

