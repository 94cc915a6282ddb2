"""Worker processes: a crash fails only its session and the pool heals; SIGTERM shuts down cleanly."""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from pathlib import Path

import httpx

from tests.client import follow, upload_ok, wait_state


def worker_pids(server) -> list[int]:
    """The server's spawned worker processes (children running multiprocessing's spawn entry)."""
    pid = server.process.pid
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [int(c) for c in children
            if "spawn_main" in Path(f"/proc/{c}/cmdline").read_bytes().decode(errors="replace")]


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
