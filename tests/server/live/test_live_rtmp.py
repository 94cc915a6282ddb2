"""Pulled live sources: rtmp:// from nginx-rtmp fed by `ffmpeg -f flv`, rtsp:// from rtsp-server-perl fed
by `ffmpeg -f rtsp`, the address checked and pinned by the guard (server/live/pull.py)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator

import pytest

from tests.support.client import wait_state
from tests.support.live import Schedule, Watch, go_live, stop_after_black
from tests.support.rtmp import NginxRtmp, RtspServer, available, rtsp_available
from tests.support.servers import Server, need
from vidpulse.server.live.pull import pin
from vidpulse.server.outbound import OutboundRefused, Policy


@pytest.fixture(scope="module")
def nginx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NginxRtmp]:
    need("nginx with its RTMP module (apt-get install nginx-light libnginx-mod-rtmp)", available())
    server = NginxRtmp(tmp_path_factory.mktemp("nginx")).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def server(start_module_server: Callable[..., Server]) -> Server:
    return start_module_server(ALLOW_PRIVATE_URLS=1)


@pytest.mark.parametrize(("url", "pinned"), [
    ("rtmp://localhost/live/stream", "rtmp://127.0.0.1:1935/live/stream"),
    ("rtmp://user:secret@localhost:19350/live/stream?key=1", "rtmp://user:secret@127.0.0.1:19350/live/stream?key=1"),
    ("rtsp://[::1]:8554/cam", "rtsp://[::1]:8554/cam"),
])
def test_a_pulled_source_is_pinned_to_the_address_checked(url: str, pinned: str) -> None:
    assert asyncio.run(pin(url, Policy(allow_private=True))) == pinned


@pytest.mark.parametrize("url", ["rtmp://127.0.0.1/live/x", "rtsp://10.1.2.3/cam", "rtmp://localhost/live/x"])
def test_a_private_pulled_source_is_refused(url: str) -> None:
    with pytest.raises(OutboundRefused, match="address"):
        asyncio.run(pin(url, Policy(allow_private=False)))


def test_an_rtmp_stream_is_pulled_analysed_and_stopped(server: Server, nginx: NginxRtmp) -> None:
    nginx.publish(Schedule(60, black=((3, 5),)), "black")
    time.sleep(1.0)  # publishing
    client = server.client()
    session = go_live(client, nginx.rtmp("black"), incident_min_s=1)
    stop_after_black(client, session["id"], Watch(client, session["id"]))
    client.delete(f"/api/sessions/{session['id']}")


def test_a_publisher_that_goes_away_is_a_lost_source(server: Server, nginx: NginxRtmp) -> None:
    publisher = nginx.publish(Schedule(60), "gone")
    time.sleep(1.0)
    client = server.client()
    session_id = go_live(client, nginx.rtmp("gone"), incident_min_s=1, reconnect_s=2)["id"]
    wait_state(client, session_id, {"running"})
    time.sleep(2)
    publisher.kill()
    failed = wait_state(client, session_id, {"succeeded", "failed"}, timeout=30)
    assert failed["state"] == "failed" and failed["error"]["code"] == "source_lost"
    client.delete(f"/api/sessions/{session_id}")


def test_the_hls_nginx_rtmp_writes_is_followed(server: Server, nginx: NginxRtmp) -> None:
    nginx.publish(Schedule(60), "relay")
    client = server.client()
    deadline = time.monotonic() + 20
    while not (nginx.base / "hls" / "relay.m3u8").exists():
        assert time.monotonic() < deadline
        time.sleep(0.1)
    session_id = go_live(client, nginx.hls("relay"))["id"]
    deadline = time.monotonic() + 20
    while (client.get(f"/api/sessions/{session_id}").json().get("progress") or {}).get("media_s", 0) < 2:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    client.post(f"/api/sessions/{session_id}/stop")
    assert wait_state(client, session_id, {"succeeded", "failed"}, timeout=15)["state"] == "succeeded"
    client.delete(f"/api/sessions/{session_id}")


def test_an_rtsp_stream_is_pulled_and_analysed(server: Server) -> None:
    need("rtsp-server-perl (apt-get install rtsp-server-perl)", rtsp_available())
    rtsp = RtspServer().start()
    try:
        rtsp.publish(Schedule(60, silence=((2, 4),)))
        time.sleep(1.5)  # recording
        client = server.client()
        session = go_live(client, rtsp.url(), incident_min_s=1)
        watch = Watch(client, session["id"])
        watch.until(lambda e: e.type == "levels" and e.data["t_s"] >= 2)
        assert client.post(f"/api/sessions/{session['id']}/stop").status_code == 202
        assert watch.end(timeout=15).type == "succeeded"
        report = client.get(f"/api/sessions/{session['id']}/results").json()
        assert report["video"]["width"] == 320 and report["audio"] is not None
        client.delete(f"/api/sessions/{session['id']}")
    finally:
        rtsp.stop()
