"""srt:// sources, pulled through an `ffmpeg` relay (server/live/srt.py) from `ffmpeg` itself as an SRT
listener: analysed like any live source, the address checked by the guard, the URL's options held to a
known few, and no relay process left behind once its session ends, however it ends."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.client import assert_problem, wait_state
from tests.support.live import Schedule, Watch, go_live, stop_after_black
from tests.support.servers import Server, need
from tests.support.srt import SrtOrigin, alive, free_udp_port, relays, srt_available
from vidpulse.server.live.srt import NO_RELAY, relay_command, srt_options
from vidpulse.server.outbound import OutboundRefused


@pytest.fixture(scope="module")
def server(start_module_server: Callable[..., Server]) -> Server:
    need("ffmpeg with SRT (apt-get install ffmpeg)", srt_available())
    return start_module_server(ALLOW_PRIVATE_URLS=1)


@pytest.fixture
def origin() -> Iterator[Callable[[Schedule], SrtOrigin]]:
    started: list[SrtOrigin] = []

    def start(schedule: Schedule) -> SrtOrigin:
        started.append(SrtOrigin(schedule).start())
        return started[-1]

    yield start
    for each in started:
        each.stop()


def wait_relay(port: int, timeout: float = 15) -> list[int]:
    deadline = time.monotonic() + timeout
    while not (found := relays(port)):
        assert time.monotonic() < deadline, "no relay started"
        time.sleep(0.05)
    return found


def assert_gone(pids: list[int], timeout: float = 5, *, zombies: bool = True) -> None:
    """`zombies`: a dead relay not reaped yet counts as left behind (its worker must reap it)."""
    deadline = time.monotonic() + timeout
    while alive(pids, zombies=zombies):
        assert time.monotonic() < deadline, f"relays left behind: {alive(pids, zombies=zombies)}"
        time.sleep(0.05)


def test_the_url_s_options_pass_as_the_relay_s_own_and_nothing_else_does() -> None:
    assert srt_options("streamid=%23%21%3A%3Ar%3Dlive&latency=200000&mode=caller&passphrase=0123456789") == {
        "streamid": "#!::r=live", "latency": "200000", "passphrase": "0123456789"}
    command = relay_command("srt://[::1]:9000?streamid=cam%201&pbkeylen=16", connect_timeout_s=2)
    assert command[command.index("-i") + 1] == "srt://[::1]:9000"  # no query left for libsrt to read
    assert command[command.index("-srt_streamid") + 1] == "cam 1" and "-pbkeylen" in command
    assert command[command.index("-protocol_whitelist") + 1] == "srt"
    assert command[command.index("-mode") + 1] == "caller" and command[-1] == "pipe:1"


@pytest.mark.parametrize(("query", "says"), [
    ("mode=listener", "caller only"), ("mode=rendezvous", "caller only"), ("timeout=1", "not 'timeout'"),
    ("listen_timeout=1", "not 'listen_timeout'"), ("passphrase=short", "10 to 79"), ("pbkeylen=8", "16, 24 or 32"),
    ("latency=-1", "microseconds"), ("latency=1&latency=2", "twice"), ("streamid=a%00b", "control characters"),
])
def test_an_option_outside_the_known_few_is_refused(query: str, says: str) -> None:
    with pytest.raises(OutboundRefused, match=says):
        srt_options(query)


@pytest.mark.parametrize("url", ["srt://127.0.0.1:9000?smoother=file", "srt://127.0.0.1:9000?mode=listener",
                                 "srt://127.0.0.1", "srt://127.0.0.1:99999"])
def test_a_bad_srt_url_is_422_naming_url(server: Server, url: str) -> None:
    problem = assert_problem(server.client().post("/api/sessions", json={"url": url, "live": True}), 422)
    assert problem["field"] == "url" and ("srt" in problem["detail"] or "port" in problem["detail"])


def test_a_private_srt_address_is_refused_without_allow_private_urls(memory_server: Server) -> None:
    client = memory_server.client()
    for url in ("srt://127.0.0.1:9000", "srt://10.1.2.3:9000?streamid=x", "srt://localhost:9000"):
        problem = assert_problem(client.post("/api/sessions", json={"url": url, "live": True}), 422)
        assert problem["field"] == "url" and "address" in problem["detail"]


def test_an_srt_stream_is_pulled_analysed_and_stopped(server: Server,
                                                      origin: Callable[[Schedule], SrtOrigin]) -> None:
    source = origin(Schedule(60, black=((3, 5),)))
    client = server.client()
    session = go_live(client, source.url("streamid=studio%201&latency=120000"), incident_min_s=1)
    watch = Watch(client, session["id"])
    pids = wait_relay(source.port)
    watch.until(lambda e: e.type == "levels" and e.data["t_s"] >= 1 and e.data["loudness_momentary_lufs"] is not None)
    report = stop_after_black(client, session["id"], watch)
    assert report["video"]["width"] == 320 and report["video"]["codec"] == "h264"
    assert_gone(pids)
    client.delete(f"/api/sessions/{session['id']}")


def test_a_stream_that_ends_ends_its_session(server: Server, origin: Callable[[Schedule], SrtOrigin]) -> None:
    source = origin(Schedule(4))
    client = server.client()
    session_id = go_live(client, source.url(), reconnect_s=10)["id"]
    pids = wait_relay(source.port)
    done = wait_state(client, session_id, {"succeeded", "failed"}, timeout=30)
    assert done["state"] == "succeeded", done.get("error")
    analysed = client.get(f"/api/sessions/{session_id}/results").json()["analysed"]
    assert analysed["end_s"] == pytest.approx(4, abs=0.5)
    assert_gone(pids)
    client.delete(f"/api/sessions/{session_id}")


def test_a_sender_that_vanishes_is_a_lost_source(server: Server, origin: Callable[[Schedule], SrtOrigin]) -> None:
    source = origin(Schedule(60))
    client = server.client()
    session = go_live(client, source.url(), incident_min_s=1, reconnect_s=3)
    watch = Watch(client, session["id"])
    watch.media_s(2)
    pids = relays(source.port)
    source.kill()
    lost = watch.incident("source_lost", "open", timeout=20)
    assert lost["start_s"] >= 2
    end = watch.end(timeout=30)
    assert end.type == "failed" and end.data["code"] == "source_lost", end.data
    assert "SRT relay said" in end.data["message"] and "Traceback" not in end.data["message"], end.data
    assert_gone(pids)
    client.delete(f"/api/sessions/{session['id']}")


def test_an_unreachable_srt_address_fails_within_reconnect_s(server: Server) -> None:
    client = server.client()
    port = free_udp_port()
    started = time.monotonic()
    session_id = go_live(client, f"srt://127.0.0.1:{port}", reconnect_s=2)["id"]
    done = wait_state(client, session_id, {"succeeded", "failed", "cancelled"}, timeout=15)
    assert done["state"] == "failed" and done["error"]["code"] == "source_unreachable"
    message = done["error"]["message"]
    assert "never answered in 2 s" in message and "SRT relay" in message and "Traceback" not in message
    assert time.monotonic() - started < 2 + 3  # reconnect_s, then a worker's start and the last attempt's end
    assert relays(port) == []
    client.delete(f"/api/sessions/{session_id}")


def test_a_cancelled_session_leaves_no_relay(server: Server, origin: Callable[[Schedule], SrtOrigin]) -> None:
    source = origin(Schedule(60))
    client = server.client()
    session_id = go_live(client, source.url())["id"]
    pids = wait_relay(source.port)
    assert client.post(f"/api/sessions/{session_id}/cancel").status_code == 202
    assert wait_state(client, session_id, {"cancelled"}, timeout=15)["state"] == "cancelled"
    assert_gone(pids)
    client.delete(f"/api/sessions/{session_id}")


def test_a_relay_dies_with_its_worker(start_server: Callable[..., Server],
                                      origin: Callable[[Schedule], SrtOrigin]) -> None:
    need("ffmpeg with SRT (apt-get install ffmpeg)", srt_available())
    server = start_server(ALLOW_PRIVATE_URLS=1)
    source = origin(Schedule(60))
    client = server.client()
    session_id = go_live(client, source.url(), reconnect_s=2)["id"]
    pids = wait_relay(source.port)
    worker = int(Path(f"/proc/{pids[0]}/stat").read_text().rpartition(")")[2].split()[1])
    assert source.process is not None
    source.process.send_signal(signal.SIGSTOP)  # a stalled source: no write to the dead worker's pipe ends it
    try:
        time.sleep(0.5)
        os.kill(worker, signal.SIGKILL)  # as the pool kills a worker that ignores a cancel
        # Killed at once, not after its read timeout (4 s); reaping the orphan is init's part.
        assert_gone(pids, timeout=1.5, zombies=False)
    finally:
        source.process.send_signal(signal.SIGCONT)
    client.post(f"/api/sessions/{session_id}/cancel")
    wait_state(client, session_id, {"succeeded", "failed", "cancelled"}, timeout=30)


def test_a_server_without_srt_in_its_ffmpeg_refuses_srt(start_server: Callable[..., Server],
                                                         tmp_path: Path) -> None:
    server = start_server(ALLOW_PRIVATE_URLS=1, PATH=str(tmp_path))  # no ffmpeg command at all
    client = server.client()
    for _ in range(2):  # asked once, answered the same every time
        response = client.post("/api/sessions", json={"url": "srt://127.0.0.1:9000", "live": True})
        problem = assert_problem(response, 422)
        assert problem["field"] == "url" and problem["detail"] == NO_RELAY


def test_vidpulse_watch_pulls_srt_too(origin: Callable[[Schedule], SrtOrigin], tmp_path: Path) -> None:
    need("ffmpeg with SRT (apt-get install ffmpeg)", srt_available())
    source = origin(Schedule(5, black=((1, 3.5),)))
    done = subprocess.run([sys.executable, "-m", "vidpulse.server.cli", "watch", source.url(), "--out",
                           str(tmp_path / "out"), "--option", "incident_min_s=1"],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["1.0s black open", "3.5s black closed (1.0-3.5s, 2.5s)"]
    assert json.loads((tmp_path / "out" / "report.json").read_text())["analysed"]["end_s"] == pytest.approx(5, abs=0.5)
