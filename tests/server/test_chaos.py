"""Chaos on the Redis deployment: two API instances, two worker hosts, a dozen uploads;
worker hosts are SIGKILLed at random every few seconds and started again, one API instance is
killed for good, and every client reconnects with Last-Event-ID to whichever instance is up.

Every session ends; every client sees its session's logged events in order, once each, with no
gap, through the terminal event; a session fails only with `worker_crashed`, after its worker was
killed on every attempt. The figures go to docs/reliability.md (printed with `-s`).
"""

from __future__ import annotations

import json
import random
import signal
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime

import httpx
import pytest
from httpx_sse import connect_sse

from tests.support.client import FINAL_STATES, TERMINAL_EVENTS, Received, follow, order, upload_ok

pytestmark = [pytest.mark.slow, pytest.mark.redis]

SESSIONS = 12
MAX_ATTEMPTS = 3  # server/jobs/dispatch.py
MAX_KILLS = 6


@dataclass
class Watch:
    """One client following one session across disconnects and instances."""

    session_id: str
    events: list[Received] = field(default_factory=list)
    streams: int = 0  # streams opened: the first, then one per reconnect
    outages_s: list[float] = field(default_factory=list)  # stream lost -> next stream open

    def last_id(self) -> str | None:
        return next((e.id for e in reversed(self.events) if e.id is not None), None)

    @property
    def ended(self) -> bool:
        return bool(self.events) and self.events[-1].type in TERMINAL_EVENTS


def _watch(watch: Watch, urls: Callable[[], list[str]], deadline: float) -> Watch:
    lost_at: float | None = None
    while not watch.ended and time.monotonic() < deadline:
        for url in urls():
            headers = {"Last-Event-ID": watch.last_id() or "0"}  # from the first event on
            try:
                with httpx.Client(base_url=url, timeout=httpx.Timeout(10, read=30)) as client, \
                        connect_sse(client, "GET", f"/api/sessions/{watch.session_id}/events",
                                    headers=headers) as source:
                    if source.response.status_code != 200:
                        continue
                    watch.streams += 1
                    if lost_at is not None:
                        watch.outages_s.append(time.monotonic() - lost_at)
                        lost_at = None
                    for sse in source.iter_sse():
                        if sse.event in ("", "message", "snapshot"):
                            continue
                        body = json.loads(sse.data)
                        watch.events.append(Received(body["id"], sse.event, body))
                        if watch.ended:
                            return watch
            except (httpx.TransportError, httpx.HTTPStatusError):
                pass
            if lost_at is None:
                lost_at = time.monotonic()
        time.sleep(0.2)
    return watch


def _ts(event: Received) -> float:
    return datetime.fromisoformat(event.body["ts"].replace("Z", "+00:00")).timestamp()


def test_chaos(start_server, redis_server, long_clip):
    started = time.monotonic()
    common = {"BACKEND": "redis", "REDIS_URL": redis_server.url(), "JOB_VISIBILITY_S": 2}
    a = start_server(WORKERS=0, **common)
    b = start_server(data_dir=a.data_dir, WORKERS=0, **common)
    hosts = [start_server(data_dir=a.data_dir, command="worker", WORKERS=1, **common) for _ in range(2)]
    instances = [a, b]
    # Several seconds of work each: long enough that kills land mid-job.
    options = {"max_frames": 600, "render": True}  # rendered, however fast decoding gets
    ids = [upload_ok(instances[i % 2].client(), long_clip.path, options)["id"] for i in range(SESSIONS)]

    def up() -> list[str]:
        alive = [s.url for s in instances if s.process is not None and s.process.poll() is None]
        return random.sample(alive, len(alive))  # whichever is up, in no fixed order

    done = threading.Event()
    kills = {"worker_host": 0, "api": 0}
    rng = random.Random(12)

    def is_up(host) -> bool:
        # Ready since its last start (it logs "vidpulse ready" once its workers are): with the
        # queue full, a host that is up is running a job.
        return b"vidpulse ready" in host.log_path.read_bytes()[log_offsets.get(id(host), 0):]

    log_offsets: dict[int, int] = {}

    def chaos() -> None:
        # A host that is up is killed every few seconds and started again at once.
        while kills["worker_host"] < MAX_KILLS and not done.wait(rng.uniform(2.0, 4.0)):
            candidates = [h for h in hosts if is_up(h)]
            if not candidates:
                continue
            host = rng.choice(candidates)
            host.stop(signal.SIGKILL)
            kills["worker_host"] += 1
            if not kills["api"]:
                b.stop(signal.SIGKILL)  # for good: its clients move to a
                kills["api"] += 1
            log_offsets[id(host)] = host.log_path.stat().st_size
            host.start(wait=False)

    deadline = time.monotonic() + 75
    with ThreadPoolExecutor(SESSIONS + 1) as pool:
        chaos_run = pool.submit(chaos)
        watches = list(pool.map(lambda sid: _watch(Watch(sid), up, deadline), ids))
        done.set()
        chaos_run.result(timeout=60)

    client = a.client()
    failed = 0
    for watch in watches:
        assert watch.ended, f"{watch.session_id} never ended for its client"
        logged = [e for e in follow(client, watch.session_id, last_event_id="0") if e.id is not None]
        seen = [e.id for e in watch.events]
        assert seen == [e.id for e in logged], f"{watch.session_id}: gap, duplicate or disorder"
        assert [order(i) for i in seen] == sorted(order(i) for i in seen)
        doc = client.get(f"/api/sessions/{watch.session_id}").json()
        assert doc["state"] in FINAL_STATES
        if doc["state"] != "succeeded":
            failed += 1
            attempts = [e.data["attempt"] for e in logged if e.type == "started"]
            assert doc["error"]["code"] == "worker_crashed" and attempts == list(range(1, MAX_ATTEMPTS + 1)), doc

    claims = []
    for watch in watches:
        for before, event in zip(watch.events, watch.events[1:], strict=False):
            if event.type == "started" and event.data["attempt"] > 1:
                claims.append(_ts(event) - _ts(before))
    outages = [s for watch in watches for s in watch.outages_s]
    figures = {
        "sessions": SESSIONS, "succeeded": SESSIONS - failed, "failed_worker_crashed": failed,
        "worker_host_kills": kills["worker_host"], "api_kills": kills["api"],
        "client_reconnects": sum(w.streams - 1 for w in watches),
        "jobs_taken_over": len(claims), "takeover_s_max": round(max(claims, default=0.0), 1),
        "client_outage_s_max": round(max(outages, default=0.0), 1),
        "total_s": round(time.monotonic() - started, 1),
    }
    print("chaos figures:", json.dumps(figures))
    assert kills["worker_host"] >= 2 and kills["api"] == 1
