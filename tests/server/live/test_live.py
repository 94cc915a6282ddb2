"""Live HLS sessions end to end: a real server follows an `ffmpeg -re` origin on loopback whose media has
black, silence and cuts at known times, through stops, refusals, an unreachable source, a lost one that
comes back (origin restarted, playlist 404, playlist stalled) or does not, and a discontinuity."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.conftest import backend_settings
from tests.support.client import assert_problem, follow, order, upload_ok, wait_state
from tests.support.live import HlsOrigin, Schedule, Watch, go_live
from tests.support.servers import Server, free_port

Origins = Callable[..., HlsOrigin]


@pytest.fixture(scope="module")
def server(start_module_server: Callable[..., Server]) -> Server:
    return start_module_server(ALLOW_PRIVATE_URLS=1, LIVE_MAX_S=600)


@dataclass
class Live:
    """A session following an origin, its events watched."""

    origin: HlsOrigin
    client: httpx.Client
    id: str
    watch: Watch

    def stop(self) -> dict[str, Any]:
        """Stop it; its report (it must succeed)."""
        assert self.client.post(f"/api/sessions/{self.id}/stop").status_code == 202
        assert self.watch.end().type == "succeeded"
        return self.client.get(f"/api/sessions/{self.id}/results").json()  # type: ignore[no-any-return]


MINUTE = Schedule(60)


def watch_live(server: Server, origins: Origins, schedule: Schedule = MINUTE, media_s: float = 2,
               **options: Any) -> Live:
    """A live session on a new origin, once it has analysed `media_s` of it."""
    origin = origins(schedule)
    origin.wait_segments(1)
    client = server.client()
    session = go_live(client, origin.url, **options)
    watch = Watch(client, session["id"])
    watch.media_s(media_s)
    return Live(origin, client, session["id"], watch)


def test_a_live_session_reports_as_it_goes_and_ends_with_the_stream(server: Server, origins: Origins) -> None:
    origin = origins(Schedule(9, black=((3.5, 5.5),), silence=((4, 6.5),), negated=((7, 9),)))
    origin.wait_segments(1)
    client = server.client()
    session = go_live(client, origin.url, incident_min_s=1)
    assert session["kind"] == "live" and session["state"] == "queued" and session["filename"] == "live.m3u8"
    watch = Watch(client, session["id"])
    black = watch.incident("black", "open")
    # The session joins the stream three segments from its end (RFC 8216): at its start unless the machine
    # is so busy that the origin was further along; the session's timeline starts where it joined.
    skipped = round(3.5 - black["start_s"])
    assert skipped in (0, 1, 2, 3) and black["start_s"] == pytest.approx(3.5 - skipped, abs=0.1)
    assert black["end_s"] is None
    document = client.get(f"/api/sessions/{session['id']}").json()
    assert document["state"] == "running" and document["progress"]["stage"] == "live"
    assert document["progress"]["media_s"] >= 1.5 and document["progress"]["lag_s"] < 3
    assert watch.end().type == "succeeded"  # EXT-X-ENDLIST

    assert {"stage": "live", "attempt": 1} in watch.of("stage")
    closed = {i["kind"]: (i["start_s"] + skipped, i["end_s"] + skipped)
              for i in watch.of("incident") if i["state"] == "closed"}
    assert closed["black"] == pytest.approx((3.5, 5.5), abs=0.1)
    assert closed["silence"] == pytest.approx((4.0, 6.5), abs=0.15)
    progress = watch.of("progress")
    assert all(p["stage"] == "live" and p["attempt"] == 1 for p in progress)
    assert [p["media_s"] for p in progress] == sorted(p["media_s"] for p in progress)
    levels = watch.of("levels")
    assert [level["t_s"] + skipped for level in levels] == [float(t) for t in range(skipped, 9)]
    assert levels[0]["loudness_momentary_lufs"] is not None and levels[4 - skipped]["brightness"] == 0.0
    scenes = [s["start_s"] + skipped for s in watch.of("scene")]
    assert scenes[0] == skipped and any(abs(s - 7.0) < 0.1 for s in scenes)

    report = client.get(f"/api/sessions/{session['id']}/results").json()
    assert [i["kind"] for i in report["incidents"]] == [i["kind"] for i in watch.of("incident") if i["state"] == "open"]
    assert report["audio"]["loudness"]["integrated_lufs"] is not None
    assert report["analysed"]["end_s"] + skipped == pytest.approx(9.0, abs=0.1)
    assert report["options"]["incident_min_s"] == 1
    assert client.get(f"/api/sessions/{session['id']}/files/timeline.png").status_code == 200
    assert client.get(f"/api/sessions/{session['id']}").json()["state"] == "succeeded"
    client.delete(f"/api/sessions/{session['id']}")


def test_stop_ends_a_live_session_with_the_report_of_what_it_saw(server: Server, origins: Origins, clip) -> None:
    live = watch_live(server, origins)
    client = live.client
    assert client.get(f"/api/sessions/{live.id}").json()["state"] == "running"
    report = live.stop()
    assert 2 <= report["analysed"]["end_s"] < 10 and report["incidents"] == []
    assert assert_problem(client.post(f"/api/sessions/{live.id}/stop"), 409)["state"] == "succeeded"
    client.delete(f"/api/sessions/{live.id}")

    file = upload_ok(client, clip.path, {"max_frames": 5})
    assert assert_problem(client.post(f"/api/sessions/{file['id']}/stop"), 409)
    wait_state(client, file["id"], {"succeeded"})
    client.delete(f"/api/sessions/{file['id']}")


def test_max_duration_s_ends_a_live_session(server: Server, origins: Origins) -> None:
    origin = origins(Schedule(60))
    origin.wait_segments(1)
    client = server.client()
    session = go_live(client, origin.url, max_duration_s=2)
    done = wait_state(client, session["id"], {"succeeded", "failed"}, timeout=20)
    assert done["state"] == "succeeded", done["error"]
    assert client.get(f"/api/sessions/{session['id']}/results").json()["analysed"]["end_s"] == pytest.approx(2, abs=0.1)
    client.delete(f"/api/sessions/{session['id']}")


@pytest.mark.parametrize("url", [
    "file:///etc/passwd", "concat:/a.ts|/b.ts", "data:text/plain,hello", "pipe:0", "udp://127.0.0.1:9000",
    "ftp://127.0.0.1/live.m3u8", "/live.m3u8",
])
def test_what_is_not_a_live_source_is_422_naming_url(server: Server, url: str) -> None:
    problem = assert_problem(server.client().post("/api/sessions", json={"url": url, "live": True}), 422)
    assert problem["field"] == "url"


def test_private_addresses_are_refused_without_allow_private_urls(memory_server: Server) -> None:
    client = memory_server.client()
    for url in ("http://127.0.0.1:9/live.m3u8", "rtmp://10.0.0.1/live/stream", "rtsp://localhost/cam"):
        problem = assert_problem(client.post("/api/sessions", json={"url": url, "live": True}), 422)
        assert problem["field"] == "url" and "address" in problem["detail"]


def test_a_url_that_answers_with_no_playlist_is_422(server: Server, origins: Origins) -> None:
    origin = origins(Schedule(3), realtime=False)
    origin.wait_ffmpeg()
    (origin.folder / "page.html").write_text("<html>not a stream</html>")
    url = origin.url.replace("live.m3u8", "page.html")
    problem = assert_problem(server.client().post("/api/sessions", json={"url": url, "live": True}), 422)
    assert problem["field"] == "url" and "not a live source" in problem["detail"]


@pytest.mark.parametrize(("options", "field"), [
    ({"render": True}, "options.render"), ({"start_s": 5}, "options.start_s"),
    ({"max_duration_s": 601}, "options.max_duration_s"), ({"reconnect_s": -1}, "options.reconnect_s"),
    ({"incident_min_s": "long"}, "options.incident_min_s"), ({"notify_incidents": 1}, "options.notify_incidents"),
    ({"notify_incidents": True}, "options.notify_incidents"),  # this server cannot sign webhooks
])
def test_bad_live_options_are_422_naming_them(server: Server, options: dict[str, Any], field: str) -> None:
    url = f"http://127.0.0.1:{free_port()}/live.m3u8"
    response = server.client().post("/api/sessions", json={"url": url, "live": True, "options": options})
    assert assert_problem(response, 422)["field"] == field


@pytest.mark.parametrize("option", [{"reconnect_s": 5}, {"notify_incidents": False}])
def test_live_options_on_a_file_are_422(server: Server, option: dict[str, Any]) -> None:
    url = f"http://127.0.0.1:{free_port()}/clip.mp4"
    response = server.client().post("/api/sessions", json={"url": url, "options": option})
    assert assert_problem(response, 422)["field"] == f"options.{next(iter(option))}"


def test_a_source_never_reachable_fails_within_reconnect_s(server: Server) -> None:
    client = server.client()
    started = time.monotonic()
    session = go_live(client, f"http://127.0.0.1:{free_port()}/live.m3u8", reconnect_s=2)
    done = wait_state(client, session["id"], {"succeeded", "failed", "cancelled"}, timeout=15)
    assert done["state"] == "failed" and done["error"]["code"] == "source_unreachable"
    assert "never answered in 2 s" in done["error"]["message"] and "Traceback" not in done["error"]["message"]
    assert time.monotonic() - started < 8
    client.delete(f"/api/sessions/{session['id']}")


def test_an_origin_restarted_is_a_lost_source_that_comes_back(server: Server, origins: Origins) -> None:
    live = watch_live(server, origins, incident_min_s=1, reconnect_s=20)
    origin, watch = live.origin, live.watch
    origin.stop_ffmpeg()
    origin.unserve()
    lost = watch.incident("source_lost", "open", timeout=15)
    origin.start_ffmpeg()
    origin.serve()
    back = watch.incident("source_lost", "closed", timeout=20)
    assert back["id"] == lost["id"] and back["end_s"] > back["start_s"] == lost["start_s"]
    media = watch.of("progress")[-1]["media_s"]
    watch.media_s(media + 2)  # analysing the restarted stream
    assert [i["kind"] for i in live.stop()["incidents"]] == ["source_lost"]
    live.client.delete(f"/api/sessions/{live.id}")


def test_a_playlist_that_404s_then_stalls_is_lost_twice_and_back_twice(server: Server, origins: Origins) -> None:
    live = watch_live(server, origins, incident_min_s=1, reconnect_s=20)
    origin, watch = live.origin, live.watch
    origin.faults.mode = "404"
    first = watch.incident("source_lost", "open", timeout=15)
    origin.faults.mode = "ok"
    assert watch.incident("source_lost", "closed", timeout=15)["id"] == first["id"]
    origin.stall()
    second = watch.until(lambda e: e.type == "incident" and e.data["state"] == "open" and e.data["id"] != first["id"],
                         timeout=20).data
    assert second["kind"] == "source_lost"
    origin.faults.mode = "ok"
    watch.until(lambda e: e.type == "incident" and e.data["id"] == second["id"] and e.data["state"] == "closed")
    assert [i["kind"] for i in live.stop()["incidents"]] == ["source_lost", "source_lost"]
    live.client.delete(f"/api/sessions/{live.id}")


def test_a_source_that_stays_lost_fails_with_source_lost(server: Server, origins: Origins) -> None:
    live = watch_live(server, origins, media_s=1, incident_min_s=1, reconnect_s=2)
    live.origin.stop()
    failed = live.watch.end(timeout=20)
    assert failed.type == "failed" and failed.data["code"] == "source_lost"
    assert "did not come back in 2 s" in failed.data["message"]
    assert live.watch.incident("source_lost", "open")
    live.client.delete(f"/api/sessions/{live.id}")


def test_a_discontinuity_is_followed(server: Server, origins: Origins) -> None:
    origin = origins(Schedule(3), flags="omit_endlist")
    origin.wait_segments(1)
    client = server.client()
    session = go_live(client, origin.url, incident_min_s=5)
    origin.wait_ffmpeg()
    # The same stream again, appended to the same playlist behind an EXT-X-DISCONTINUITY.
    origin.start_ffmpeg(clear=False, flags="append_list+discont_start")
    origin.wait_ffmpeg()
    assert "#EXT-X-DISCONTINUITY" in (origin.folder / "live.m3u8").read_text()
    done = wait_state(client, session["id"], {"succeeded", "failed"}, timeout=30)
    assert done["state"] == "succeeded", done["error"]
    report = client.get(f"/api/sessions/{session['id']}/results").json()
    assert report["analysed"]["end_s"] == pytest.approx(6.0, abs=0.2)
    assert report["incidents"] == []
    client.delete(f"/api/sessions/{session['id']}")


def test_cancel_and_delete_a_live_session_and_max_live(start_server: Callable[..., Server]) -> None:
    server = start_server(ALLOW_PRIVATE_URLS=1, MAX_LIVE=1)
    client = server.client()
    url = f"http://127.0.0.1:{free_port()}/live.m3u8"
    first = go_live(client, url, reconnect_s=60)
    wait_state(client, first["id"], {"running"})
    refused = client.post("/api/sessions", json={"url": url, "live": True})
    assert assert_problem(refused, 429)["retry_after_s"] == int(refused.headers["retry-after"]) >= 1
    assert client.post(f"/api/sessions/{first['id']}/cancel").status_code == 202
    assert wait_state(client, first["id"], {"cancelled", "failed", "succeeded"}, timeout=10)["state"] == "cancelled"
    second = go_live(client, url, reconnect_s=60)
    wait_state(client, second["id"], {"running"})
    assert client.delete(f"/api/sessions/{second['id']}").status_code == 204
    assert client.get(f"/api/sessions/{second['id']}").status_code == 404


@pytest.mark.redis
def test_a_live_session_on_redis_reports_and_stops(start_server: Callable[..., Server], redis_server,
                                                   origins: Origins) -> None:
    on_redis = start_server(ALLOW_PRIVATE_URLS=1, BACKEND="redis", REDIS_URL=redis_server.url())
    live = watch_live(on_redis, origins, Schedule(60, black=((1, 3),)), media_s=3, incident_min_s=1)
    black = live.watch.incident("black", "closed")
    assert 0.9 <= black["end_s"] - black["start_s"] <= 2.1  # (the session may join past its start)
    document = live.client.get(f"/api/sessions/{live.id}").json()
    assert document["kind"] == "live" and document["progress"]["stage"] == "live"
    report = live.stop()  # the stop is saved by the API and seen by the dispatcher, through Redis
    assert [i["kind"] for i in report["incidents"]] == ["black"]
    assert [e.type for e in live.watch.events].count("levels") >= 3
    live.client.delete(f"/api/sessions/{live.id}")


@pytest.mark.parametrize("backend", ["memory", pytest.param("redis", marks=pytest.mark.redis)])
def test_a_live_log_keeps_progress_and_levels_for_live_log_s_only(request: pytest.FixtureRequest, backend: str,
                                                                   start_server: Callable[..., Server],
                                                                   origins: Origins) -> None:
    on = start_server(ALLOW_PRIVATE_URLS=1, LIVE_LOG_S=2, **backend_settings(request, backend))
    live = watch_live(on, origins, Schedule(60, black=((1, 2.5),)), media_s=7, incident_min_s=1)
    report = live.stop()
    assert [i["kind"] for i in report["incidents"]] == ["black"]
    everything = live.watch.events[1:]  # as they happened, live (after the snapshot)
    since = order(everything[0].id or "0")
    logged = [e for e in follow(live.client, live.id, last_event_id="0")[1:] if order(e.id or "0") >= since]
    expiring = ("progress", "levels")
    # Nothing else is ever dropped, and whatever is kept is kept as it was.
    assert [e.id for e in logged if e.type not in expiring] == [e.id for e in everything if e.type not in expiring]
    assert {e.id: e.body for e in logged} == {e.id: e.body for e in everything if e.id in {k.id for k in logged}}
    assert "incident" in {e.type for e in logged} and "scene" in {e.type for e in logged}
    # Only the last seconds' progress and levels are left (trimmed at most every LIVE_LOG_S / 4).
    kept = [e for e in logged if e.type == "levels"]
    assert 0 < len(kept) <= 4 < len([e for e in everything if e.type == "levels"])
    # A replay from an id that was trimmed starts at the oldest event kept after it.
    first_progress = next(e for e in everything if e.type == "progress")
    assert first_progress.id not in {e.id for e in logged}
    replay = follow(live.client, live.id, last_event_id=first_progress.id)
    after = [e for e in logged if order(e.id or "0") > order(first_progress.id or "0")]
    assert [e.id for e in replay[1:]] == [e.id for e in after]
    live.client.delete(f"/api/sessions/{live.id}")


def test_a_live_session_runs_again_after_a_restart_and_on_retry(start_server: Callable[..., Server],
                                                                origins: Origins) -> None:
    server = start_server(ALLOW_PRIVATE_URLS=1)
    live = watch_live(server, origins, Schedule(120), incident_min_s=1)
    server.restart()  # the running session is queued again: a new attempt follows the source again
    client = server.client()
    deadline = time.monotonic() + 30
    while (client.get(f"/api/sessions/{live.id}").json().get("progress") or {}).get("attempt") != 2:
        assert time.monotonic() < deadline, client.get(f"/api/sessions/{live.id}").json()
        time.sleep(0.1)
    assert client.post(f"/api/sessions/{live.id}/stop").status_code == 202
    assert wait_state(client, live.id, {"succeeded", "failed"}, timeout=20)["state"] == "succeeded"
    # The new attempt went on with the session's timeline, from where the first one stopped.
    progress = [e.data for e in follow(client, live.id, last_event_id="0") if e.type == "progress"]
    reached = max(p["media_s"] for p in progress if p["attempt"] == 1)
    assert min(p["media_s"] for p in progress if p["attempt"] == 2) > reached
    assert client.get(f"/api/sessions/{live.id}/results").json()["analysed"]["start_s"] >= reached
    # A finished live session analysed again follows its source again, with its own options or new ones.
    retried = client.post(f"/api/sessions/{live.id}/retry", json={"options": {"incident_min_s": 3}})
    assert retried.status_code == 202, retried.text
    assert client.post(f"/api/sessions/{live.id}/retry", json={"options": {"render": True}}).status_code == 409
    watch = Watch(client, live.id)
    watch.until(lambda e: e.type == "progress" and e.data["attempt"] == 3 and e.data["media_s"] >= 1)
    client.post(f"/api/sessions/{live.id}/stop")
    assert watch.end().type == "succeeded"
    report = client.get(f"/api/sessions/{live.id}/results").json()
    assert report["options"]["incident_min_s"] == 3
    bad = client.post(f"/api/sessions/{live.id}/retry", json={"options": {"render": True}})
    assert assert_problem(bad, 422)["field"] == "options.render"
    client.delete(f"/api/sessions/{live.id}")
