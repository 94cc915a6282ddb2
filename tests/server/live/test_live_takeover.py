"""A live session taken over on Redis: its worker host is killed while it follows a real HLS origin,
another host claims the job after JOB_VISIBILITY_S and follows the source again from its live edge; the
session's timeline goes on, the time missed is a `gap` incident, and every incident's webhook is sent
once."""

from __future__ import annotations

import contextlib
import shutil
import signal
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from standardwebhooks import Webhook

from tests.support.client import Received, follow, wait_state
from tests.support.live import HlsOrigin, Schedule, Watch, go_live
from tests.support.receiver import new_secret, running_receiver
from tests.support.redisdb import RedisServer
from tests.support.servers import Server, need

pytestmark = pytest.mark.redis


def wall(event: Received) -> float:
    """When the server logged the event (its `ts`), in epoch seconds."""
    return datetime.fromisoformat(event.body["ts"].replace("Z", "+00:00")).timestamp()


SEGMENT_S = 0.5


def test_a_host_killed_mid_stream_is_a_gap_and_the_session_goes_on(start_server: Callable[..., Server],
                                                                    redis_server: RedisServer, tmp_path: Path) -> None:
    need("ffmpeg", shutil.which("ffmpeg") is not None)
    secret = new_secret()
    origin = HlsOrigin(tmp_path / "origin", Schedule(60, black=((2, 14),)), segment_s=SEGMENT_S)
    with running_receiver() as hooks, contextlib.ExitStack() as stopping:
        stopping.callback(origin.stop)
        common = {"BACKEND": "redis", "REDIS_URL": redis_server.url(), "JOB_VISIBILITY_S": 4,
                  "ALLOW_PRIVATE_URLS": 1, "WEBHOOK_URL": hooks.url, "WEBHOOK_SECRET": secret}
        api = start_server(WORKERS=0, **common)
        first = start_server(data_dir=api.data_dir, command="worker", WORKERS=1, **common)
        client = api.client()
        # The session waits for its stream, so its timeline is the origin's own media time until the takeover.
        session = go_live(client, origin.url, incident_min_s=1, notify_incidents=True)
        wait_state(client, session["id"], {"running"})
        watch = Watch(client, session["id"])
        origin.start()
        black = watch.incident("black", "open")
        assert black["start_s"] == pytest.approx(2.0, abs=0.05)
        watch.until(lambda e: e.type == "progress" and e.data["media_s"] >= 4)
        start_server(data_dir=api.data_dir, command="worker", WORKERS=1, **common)  # the host that takes over
        first.stop(signal.SIGKILL)
        killed_at = time.time()

        gap = watch.incident("gap", "closed", timeout=30)
        resumed = watch.until(lambda e: e.type == "progress" and e.data["attempt"] == 2)
        before = [e for e in watch.events if e.type == "progress" and e.data["attempt"] == 1][-1]
        # The gap starts at the last media the first host analysed, and spans the media missed: the wall
        # time until the second host analysed again, less the few segments the origin still held from
        # before (it is joined three segments from its end).
        assert gap["id"] == "2-1" and gap["start_s"] == pytest.approx(before.data["media_s"], abs=0.002)
        length = gap["end_s"] - gap["start_s"]
        down_s = wall(resumed) - killed_at
        assert down_s - 3 * SEGMENT_S - 1.0 <= length <= wall(resumed) - wall(before) + before.data["lag_s"] + 0.5, (
            length, down_s, wall(resumed) - wall(before))
        assert resumed.data["media_s"] >= gap["end_s"]
        # What the first host left open closed where it stopped seeing, announced by the second.
        closed = watch.incident("black", "closed")
        assert closed["id"] == black["id"] == "1-1" and closed["end_s"] == gap["start_s"]
        # The timeline goes on as the stream's own: the black the second host saw ends where the origin's
        # does (14 s), to within the precision of the gap: the first host's last progress may be up to a
        # segment behind the media it had fetched, and its playlist a poll old, which make the gap short.
        # (No gap at all would put it near 10.5 s; the wall time alone, without the origin's backlog,
        # near 15 s.)
        again = watch.until(lambda e: e.type == "incident" and e.data["kind"] == "black" and e.data["id"] != "1-1"
                            and e.data["state"] == "closed").data
        assert again["id"] == "2-2" and 14.0 - 3 * SEGMENT_S <= again["end_s"] <= 14.3, again

        watch.media_s(resumed.data["media_s"] + 1)
        assert client.post(f"/api/sessions/{session['id']}/stop").status_code == 202
        assert watch.end().type == "succeeded"
        logged = follow(client, session["id"], last_event_id="0")
        assert [e.data["attempt"] for e in logged if e.type == "started"] == [1, 2]
        report = client.get(f"/api/sessions/{session['id']}/results").json()
        incidents = {i["id"]: i for i in report["incidents"]}
        assert list(incidents) == ["1-1", "2-1", "2-2"]
        assert (incidents["1-1"]["kind"], incidents["1-1"]["end_s"]) == ("black", gap["start_s"])
        assert (incidents["2-1"]["kind"], incidents["2-1"]["start_s"], incidents["2-1"]["end_s"]) == (
            "gap", gap["start_s"], gap["end_s"])
        assert report["analysed"]["start_s"] == pytest.approx(gap["end_s"], abs=0.001)
        assert report["analysed"]["end_s"] > gap["end_s"]

        # One webhook per incident and state, whichever host announced it (the second host recorded the
        # first one's again: a no-op), each under an id of its own.
        announced = {(e.data["id"], e.data["state"]) for e in logged if e.type == "incident"}
        deadline = time.monotonic() + 20
        while len(hooks.requests) < len(announced) + 1:
            assert time.monotonic() < deadline, [r.json["type"] for r in hooks.requests]
            time.sleep(0.05)
        time.sleep(1.0)  # nothing more comes
        hook = Webhook(secret)
        payloads: list[dict[str, Any]] = [hook.verify(r.body, r.headers) for r in hooks.requests]
        sent = [(p["data"]["incident"]["id"], p["data"]["incident"]["state"]) for p in payloads
                if p["type"] != "session.succeeded"]
        assert sorted(sent) == sorted(announced)
        assert {("1-1", "open"), ("1-1", "closed"), ("2-1", "open"), ("2-1", "closed")} <= announced
        ids = [r.headers["webhook-id"] for r in hooks.requests]
        assert len(ids) == len(set(ids)) == len(announced) + 1
