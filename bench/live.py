"""Live sessions: CPU per second of a live 720p30 stream with sound, the latency from a segment
appearing in the playlist to the `incident` it completes reaching an SSE client, memory growth, and
what pulling the stream over SRT through the ffmpeg relay costs.

    .venv/bin/python bench/live.py [--quick] [--seconds 60] [--segment 1] [--hours 0.5] [--srt-only]
                                   [--baseline-src DIR]

CPU and latency: a real `vidpulse serve` (one worker) follows an `ffmpeg -re` HLS origin on loopback
(tests/support/live.py) whose picture goes black for 3 s every 15 s; with `incident_min_s` 1, each black span's
incident opens with the first frame 1 s into it, so the segment holding that frame is the one that
completes it. The playlist is polled every 5 ms for when each segment appears. CPU is read from /proc for
the server's process and for its children (the worker running the job; the others idle), between two
progress events, over the media analysed between them.

SRT: the same, pulled from `ffmpeg -re` as an SRT listener on loopback (tests/support/srt.py); the
relay's CPU (the `ffmpeg` the worker runs, copying) is read apart from the worker's.

Every technical cue runs in a live session (and with `qc_profile` the delivery checks): each HLS case runs
with `qc_profile` broadcast_hd (every cue and check) and with none (every cue, no checks), and with
`--baseline-src` (a checkout whose live sessions have no cues, e.g. `git archive` of the commit before
them) the same stream in that checkout's server: cues on against cues off, in the same run. The sound is
a stereo tone at -23 LUFS.

Memory: the live analysis in this process (as a worker runs it) over a long finished playlist, RSS
sampled every 60 s of media; growth is the slope over the second half, per hour of media.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import m3u8

from common import ROOT, BenchServer, cpu_s, percentile, rss_mb
from tests.support.live import HlsOrigin, Schedule
from tests.support.srt import SrtOrigin


def descendants(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            found += [int(child), *descendants(int(child))]
    return found


def is_relay(pid: int) -> bool:
    try:
        return b"-protocol_whitelist" in Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False


def cpu_tree(pid: int) -> tuple[float, float, float]:
    """CPU seconds of the process, of its descendants alive now but SRT relays, and of those relays."""
    children = descendants(pid)
    relays = [child for child in children if is_relay(child)]
    return (cpu_s(pid), sum(cpu_s(child) for child in children if child not in relays),
            sum(cpu_s(relay) for relay in relays))


class PlaylistWatch:
    """When each segment first appears in the origin's playlist (polled every 5 ms)."""

    def __init__(self, playlist: Path) -> None:
        self.appeared: dict[str, float] = {}
        self._playlist = playlist
        self._stop = threading.Event()
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                text = self._playlist.read_text()
            except OSError:
                text = ""
            now = time.monotonic()
            for line in text.splitlines():
                if line.endswith(".ts"):
                    self.appeared.setdefault(line, now)
            time.sleep(0.005)

    def stop(self) -> None:
        self._stop.set()


def follow_events(url: str, session_id: str, into: list[tuple[float, dict[str, Any]]]) -> None:
    with httpx.stream("GET", f"{url}/api/sessions/{session_id}/events", timeout=None) as response:
        for line in response.iter_lines():
            if line.startswith("data:"):
                event = json.loads(line[5:])
                into.append((time.monotonic(), event))
                if event["type"] in ("succeeded", "failed", "cancelled"):
                    return


Sample = tuple[float, float, float, float]  # media_s, then CPU seconds: server, worker, relay


def follow_live(server: BenchServer, url: str, qc_profile: str = "none"
                ) -> tuple[list[tuple[float, dict[str, Any]]], list[Sample]]:
    """A live session on `url` followed to its end: its events (with when they arrived), and the CPU
    sampled every 5 s of media."""
    options: dict[str, Any] = {"incident_min_s": 1}
    if qc_profile != "none":
        options["qc_profile"] = qc_profile
    response = httpx.post(f"{server.url}/api/sessions", timeout=30,
                          json={"url": url, "live": True, "options": options})
    response.raise_for_status()
    events: list[tuple[float, dict[str, Any]]] = []
    follower = threading.Thread(target=follow_events, args=(server.url, response.json()["id"], events), daemon=True)
    follower.start()
    samples: list[Sample] = []
    while follower.is_alive():
        progress = [e for _, e in events if e["type"] == "progress"]
        if progress and (not samples or progress[-1]["data"]["media_s"] >= samples[-1][0] + 5):
            samples.append((progress[-1]["data"]["media_s"], *cpu_tree(server.process.pid)))
        time.sleep(0.05)
    return events, samples


def costs(events: list[tuple[float, dict[str, Any]]], samples: list[Sample], size: tuple[int, int]) -> dict[str, Any]:
    warm = [s for s in samples if s[0] >= 5]
    media = warm[-1][0] - warm[0][0]
    lags = [e["data"]["lag_s"] for _, e in events if e["type"] == "progress"]
    return {"media_s": round(media, 1), "size": f"{size[0]}x{size[1]}",
            "worker_core_s_per_s": round((warm[-1][2] - warm[0][2]) / media, 3),
            "server_core_s_per_s": round((warm[-1][1] - warm[0][1]) / media, 4),
            "lag_s_median": round(percentile(lags, 0.5), 2),
            "levels": len([e for _, e in events if e["type"] == "levels"]),
            "end": events[-1][1]["type"] if events else None}


def black_spans(seconds: float) -> tuple[tuple[float, float], ...]:
    return tuple((start, start + 3.0) for start in range(10, int(seconds) - 4, 15))


def cpu_and_latency(seconds: float, segment_s: float, size: tuple[int, int], checkout: Path = ROOT,
                    qc_profile: str = "none") -> dict[str, Any]:
    base = Path(tempfile.mkdtemp(prefix="vidpulse-live-bench-"))
    spans = black_spans(seconds)
    schedule = Schedule(seconds, size=size, black=spans, volume_db=-4.2, stereo=True)
    origin = HlsOrigin(base / "origin", schedule, segment_s=segment_s).start()
    server = BenchServer(base / "data", cwd=checkout, WORKERS=1, ALLOW_PRIVATE_URLS=1)
    watch = PlaylistWatch(origin.folder / "live.m3u8")
    try:
        origin.wait_segments(1)
        events, samples = follow_live(server, origin.url, qc_profile)
    finally:
        watch.stop()
        server.stop()
        origin.stop()
    latencies = []
    for at, event in events:
        data = event["data"]
        if event["type"] == "incident" and data["kind"] == "black" and data["state"] == "open":
            # The session's timeline starts where it joined the stream (three segments from the end of the
            # playlist it first read, so a few segments in when the server was slow to start): the black
            # span it is, in the origin's seconds, is the first at or after it.
            joined = min(a - data["start_s"] for a, _ in spans if a - data["start_s"] > -0.5)
            # The incident opens with the frame at start_s + 1 (incident_min_s): in this segment.
            segment = f"live{int((data['start_s'] + joined + 1.0 + 1e-6) // segment_s)}.ts"
            latencies.append(at - watch.appeared[segment])
    case = "baseline (no live cues)" if checkout != ROOT else f"cues, qc_profile {qc_profile}"
    kinds = sorted({e["data"]["kind"] for _, e in events if e["type"] == "incident"})
    return {"case": case, **costs(events, samples, size), "segment_s": segment_s, "incident_kinds": kinds,
            "incident_latency_s": [round(x, 3) for x in latencies]}


def srt_relay(seconds: float, size: tuple[int, int]) -> dict[str, Any]:
    base = Path(tempfile.mkdtemp(prefix="vidpulse-srt-bench-"))
    origin = SrtOrigin(Schedule(seconds, size=size, black=black_spans(seconds))).start()
    server = BenchServer(base / "data", WORKERS=1, ALLOW_PRIVATE_URLS=1)
    try:
        events, samples = follow_live(server, origin.url())
    finally:
        server.stop()
        origin.stop()
    warm = [s for s in samples if s[0] >= 5]
    blacks = [e for _, e in events if e["type"] == "incident" and e["data"]["kind"] == "black"]
    return {**costs(events, samples, size), "source": "srt",
            "relay_core_s_per_s": round((warm[-1][3] - warm[0][3]) / (warm[-1][0] - warm[0][0]), 4),
            "black_incidents": len(blacks) // 2}


def memory_growth(hours: float, size: tuple[int, int]) -> dict[str, Any]:
    from vidpulse.processing.live.analysis import LiveAnalysis, LiveEvents
    from vidpulse.processing.live.items import Ended
    from vidpulse.processing.live.options import LiveOptions
    from vidpulse.processing.live.segments import Segment, SegmentQueue

    seconds = round(hours * 3600)
    base = Path(tempfile.mkdtemp(prefix="vidpulse-live-memory-"))
    # Cuts, black and silence all along, so the scene, incident and motion lists grow as they would.
    spans = tuple((start, start + 3.0) for start in range(20, seconds - 4, 60))
    origin = HlsOrigin(base / "origin", Schedule(seconds, size=size, black=spans, silence=spans,
                                                 negated=tuple((a + 30, a + 40) for a, _ in spans),
                                                 volume_db=-4.2, stereo=True),
                       segment_s=2, realtime=False)
    origin.start_ffmpeg()
    origin.wait_ffmpeg(timeout=3600)
    playlist = m3u8.load(str(origin.folder / "live.m3u8"))
    inbox: queue.Queue[Any] = queue.Queue(maxsize=8)

    def fill() -> None:
        for segment in playlist.segments:
            inbox.put(Segment((origin.folder / segment.uri).read_bytes(), float(segment.duration)))
        inbox.put(Ended())

    samples: list[tuple[float, float]] = []

    def levels(level: Any) -> None:
        if level.t_s % 60 == 0:
            samples.append((level.t_s, rss_mb(os.getpid())))

    threading.Thread(target=fill, daemon=True).start()
    started = time.monotonic()
    analysis = LiveAnalysis(base / "out", LiveOptions(qc_profile="broadcast_hd"), LiveEvents(levels=levels))
    report = analysis.run(SegmentQueue(inbox, lambda: False).items())
    wall = time.monotonic() - started
    half = [s for s in samples if s[0] >= samples[-1][0] / 2]
    slope = (half[-1][1] - half[0][1]) / max(1e-9, half[-1][0] - half[0][0]) * 3600
    origin.stop()
    return {"media_s": seconds, "size": f"{size[0]}x{size[1]}", "wall_s": round(wall, 1),
            "rss_mb_start": round(samples[0][1], 1), "rss_mb_end": round(samples[-1][1], 1),
            "growth_mb_per_media_hour": round(slope, 1), "scenes": len(report["scenes"]),
            "incidents": len(report["incidents"])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="30 s of live media, 6 min for memory")
    parser.add_argument("--seconds", type=float, default=60.0, help="live media for CPU and latency")
    parser.add_argument("--segment", type=float, nargs="+", default=[1.0, 2.0], help="HLS segment lengths")
    parser.add_argument("--hours", type=float, default=0.5, help="media for the memory growth")
    parser.add_argument("--srt-only", action="store_true", help="only the SRT relay's case")
    parser.add_argument("--baseline-src", type=Path, help="a checkout whose live sessions have no cues")
    args = parser.parse_args()
    seconds, hours = (30.0, 0.1) if args.quick else (args.seconds, args.hours)
    os.chdir(ROOT)
    cases: list[tuple[Path, str]] = [(ROOT, "broadcast_hd"), (ROOT, "none")]
    if args.baseline_src is not None:
        cases.append((args.baseline_src.resolve(), "none"))
    if not args.srt_only:
        for segment_s in args.segment:
            for checkout, qc_profile in cases:
                found = cpu_and_latency(seconds, segment_s, (1280, 720), checkout, qc_profile)
                print(json.dumps({"live": found}), flush=True)
    print(json.dumps({"live": srt_relay(seconds, (1280, 720))}), flush=True)
    if not args.srt_only:
        print(json.dumps({"memory": memory_growth(hours, (640, 360))}), flush=True)
    print(json.dumps({"load_average": os.getloadavg()[0]}))


if __name__ == "__main__":
    main()
