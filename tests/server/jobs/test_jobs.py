"""Worker processes: a crash fails only its session and the pool heals; SIGTERM shuts down cleanly."""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from pathlib import Path

import httpx

from tests.support.client import follow, upload_ok, wait_state


def _children(pid: int) -> list[int]:
    return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def worker_pids(server) -> list[int]:
    """The server's worker and probe processes: the children of its fork server (multiprocessing's)."""
    return [worker for child in _children(server.process.pid)
            if "forkserver" in Path(f"/proc/{child}/cmdline").read_bytes().decode(errors="replace")
            for worker in _children(child)]


def busiest(pids: list[int]) -> int:
    def cpu_ticks(pid: int) -> int:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])  # utime + stime

    return max(pids, key=cpu_ticks)


def test_killed_worker_fails_only_its_session_and_the_pool_heals(start_server, long_clip, clip):
    server = start_server(WORKERS=1)
    client = server.client()
    victim = upload_ok(client, long_clip.path)
    after = upload_ok(client, clip.path)
    wait_state(client, victim["id"], {"running"})
    time.sleep(0.3)
    pid = busiest(worker_pids(server))  # the analysis worker, not the upload prober
    os.kill(pid, signal.SIGKILL)

    failed = wait_state(client, victim["id"], {"failed"}, timeout=20)
    assert failed["error"]["code"] == "worker_crashed"
    assert "Traceback" not in failed["error"]["message"]
    events = follow(client, victim["id"])
    assert events[-1].type == "failed" and events[-1].data["code"] == "worker_crashed"
    assert wait_state(client, after["id"], {"succeeded"}, timeout=60)["state"] == "succeeded"
    ready = client.get("/readyz").json()
    assert ready["workers"] == {"alive": 1, "configured": 1}
    assert pid not in worker_pids(server)


def test_sigterm_closes_streams_and_exits_cleanly(start_server, long_clip):
    server = start_server(WORKERS=1)
    client = server.client()
    session = upload_ok(client, long_clip.path)
    wait_state(client, session["id"], {"running"})
    ended = threading.Event()

    def watch() -> None:
        # However the stream ends (closed, or cut mid-chunk), an EventSource reconnects.
        with contextlib.suppress(httpx.TransportError):
            follow(server.client(), session["id"])
        ended.set()

    threading.Thread(target=watch, daemon=True).start()
    time.sleep(0.5)
    workers = worker_pids(server)
    started = time.monotonic()
    # uvicorn re-raises the signal after a clean shutdown, so -SIGTERM is the clean exit status.
    assert server.stop(signal.SIGTERM) in (0, -signal.SIGTERM)
    assert "Application shutdown complete" in server.log()
    assert time.monotonic() - started < 30
    assert ended.wait(5), "open SSE streams are closed so clients reconnect"
    for pid in workers:
        assert not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text()


def test_no_worker_outlives_a_killed_server(start_server, long_clip):
    server = start_server(WORKERS=1)
    client = server.client()
    session = upload_ok(client, long_clip.path)
    wait_state(client, session["id"], {"running"})
    helpers = _children(server.process.pid)
    workers = worker_pids(server)
    assert workers, "the fork server's children: the analysis worker and the probers"
    server.stop(signal.SIGKILL)  # no shutdown code runs: the fork server and the workers must follow
    deadline = time.monotonic() + 10
    alive = set(helpers + workers)
    while alive and time.monotonic() < deadline:
        alive = {pid for pid in alive if Path(f"/proc/{pid}").exists()
                 and "zombie" not in Path(f"/proc/{pid}/status").read_text()}
        time.sleep(0.1)
    assert not alive, f"still running after their server was killed: {sorted(alive)}"


def test_a_worker_host_forks_its_workers_and_no_probe_processes(start_server, redis_server):
    host = start_server(command="worker", WORKERS=1, BACKEND="redis", REDIS_URL=redis_server.url())
    # Uploads are probed by the instances that take them; a worker host takes none.
    assert len(worker_pids(host)) == 1
