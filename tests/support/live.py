"""Live sources for the tests: an HLS origin made by `ffmpeg -re` from lavfi sources on a known
schedule (cuts, black, frozen, silence at given media times), served over HTTP on loopback by a server
that can fail on demand (down, 404, a stalled playlist, a redirect)."""

from __future__ import annotations

import shutil
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.client import Received, follow
from tests.support.servers import QuietHandler, free_port

Span = tuple[float, float]


@dataclass(frozen=True)
class Schedule:
    """What the origin's media shows, in its own seconds; cuts are negated-picture stretches (a cut in and
    a cut out, with motion throughout: neither black nor frozen).

    The technical cues: `bars` (SMPTE RP 219 colour bars over the picture), `letterbox` (black bars above
    and below, an eighth of the height each), `out_of_range` (luma pushed above 235), `inverted` (the right
    channel phase-inverted: the sound is then stereo, the tone on both channels), `loud` (the sound 9 dB
    louder), `peaks` (22 dB louder: the tone's peaks near full scale). `volume_db`: the tone's level (-4.2
    dB makes the stereo tone -23 LUFS). `crf`: libx264's quality (its default, 23, rings below black at
    sharp edges on some of testsrc2's pictures: 18 does not)."""

    duration_s: float
    size: tuple[int, int] = (320, 180)
    fps: int = 30
    black: tuple[Span, ...] = ()
    frozen: tuple[Span, ...] = ()
    silence: tuple[Span, ...] = ()
    negated: tuple[Span, ...] = ()
    bars: tuple[Span, ...] = ()
    letterbox: tuple[Span, ...] = ()
    out_of_range: tuple[Span, ...] = ()
    inverted: tuple[Span, ...] = ()
    loud: tuple[Span, ...] = ()
    peaks: tuple[Span, ...] = ()
    volume_db: float = 0.0
    stereo: bool = False
    crf: int | None = None

    def ffmpeg(self, *output: str, gop: int | None = None, realtime: bool = True) -> list[str]:
        """The ffmpeg command that encodes this media (H.264 with a keyframe every `gop` frames, AAC) to
        `output` (its format options and target)."""
        pace = ["-re"] if realtime else []
        return ["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", *pace, *self.ffmpeg_inputs(), "-c:v", "libx264",
                "-preset", "ultrafast", "-tune", "zerolatency", "-g", str(gop or self.fps),
                *([] if self.crf is None else ["-crf", str(self.crf)]), "-c:a", "aac", *output]

    def ffmpeg_inputs(self) -> list[str]:
        width, height = self.size
        d = self.duration_s
        # testsrc2 drawn at twice the size and averaged down, a little desaturated: its own moving lines
        # look combed to FFmpeg's idet (an interlaced cue), and its full-saturation colours overshoot the
        # chroma range once encoded (out_of_range); a plain programme has neither.
        video = [f"[0]scale={width}:{height}:flags=area,hue=s=0.8"]
        video += [f"drawbox=c=black:t=fill:enable='{_on(span)}'" for span in self.black]
        video += [f"negate=enable='{_on(span)}'" for span in self.negated]
        for span in self.letterbox:
            video += [f"drawbox=y=0:h=ih/8:c=black:t=fill:enable='{_on(span)}'",
                      f"drawbox=y=ih*7/8:h=ih/4:c=black:t=fill:enable='{_on(span)}'"]
        video += [f"lutyuv=y='clip(val*1.4,0,255)':enable='{_on(span)}'" for span in self.out_of_range]
        graph = ",".join(video)
        inputs = ["-f", "lavfi", "-i", f"testsrc2=s={2 * width}x{2 * height}:r={self.fps}:d={d}",
                  "-f", "lavfi", "-i", f"sine=f=440:sample_rate=48000:d={d}"]
        if self.bars:
            inputs += ["-f", "lavfi", "-i", f"smptehdbars=s={width}x{height}:r={self.fps}:d={d}"]
            graph += "[p];[p][2]overlay=enable='" + "+".join(_on(span) for span in self.bars) + "'"
        for n, (start, end) in enumerate(self.frozen):
            first, last = round(start * self.fps), round(end * self.fps) - 1
            graph += (f"[f{n}];[f{n}]split[a{n}][b{n}];"
                      f"[a{n}][b{n}]freezeframes=first={first}:last={last}:replace={first - 1}")
        graph += f"[v];[1]volume={self.volume_db}dB"
        graph += "".join(f",volume=enable='{_on(span)}':volume=0" for span in self.silence)
        graph += "".join(f",volume=enable='{_on(span)}':volume=9dB" for span in self.loud)
        graph += "".join(f",volume=enable='{_on(span)}':volume=22dB" for span in self.peaks)
        if self.stereo or self.inverted:
            flip = "+".join(f"between(t,{start},{end - 0.001})" for start, end in self.inverted) or "0"
            graph += f",pan=stereo|c0=c0|c1=c0,aeval='val(0)|val(1)*(1-2*({flip}))':c=same"
        graph += "[s]"
        return [*inputs, "-filter_complex", graph, "-map", "[v]", "-map", "[s]"]


def _on(span: Span) -> str:
    """An FFmpeg timeline expression for [start, end) of a span."""
    start, end = span
    return f"between(t,{start},{end - 0.001})"


@dataclass
class Faults:
    """How the HTTP side answers now: normally, 404 for everything, the playlist as it was (a stall),
    or a redirect of the playlist to `redirect`."""

    mode: str = "ok"
    redirect: str = ""
    frozen_playlist: bytes = b""
    hits: list[str] = field(default_factory=list)


class HlsOrigin:
    def __init__(self, folder: Path, schedule: Schedule, *, segment_s: float = 1.0, realtime: bool = True,
                 flags: str = "") -> None:
        self.folder = folder
        self.flags = flags
        self.schedule = schedule
        self.segment_s = segment_s
        self.realtime = realtime
        self.faults = Faults()
        self.port = free_port()
        self._ffmpeg: subprocess.Popen[bytes] | None = None
        self._httpd: ThreadingHTTPServer | None = None
        folder.mkdir(parents=True, exist_ok=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/live.m3u8"

    def start(self) -> HlsOrigin:
        self.start_ffmpeg(flags=self.flags)
        self.serve()
        return self

    def start_ffmpeg(self, *, clear: bool = True, flags: str = "") -> None:
        """`flags`: -hls_flags (append_list+discont_start: go on with the same playlist after a
        discontinuity)."""
        if clear:
            for path in self.folder.iterdir():
                path.unlink()
        command = self.schedule.ffmpeg("-f", "hls", "-hls_time", str(self.segment_s), "-hls_list_size", "0",
                                       *(["-hls_flags", flags] if flags else []), str(self.folder / "live.m3u8"),
                                       gop=round(self.schedule.fps * self.segment_s), realtime=self.realtime)
        self._ffmpeg = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def wait_ffmpeg(self, timeout: float = 60) -> None:
        assert self._ffmpeg is not None
        self._ffmpeg.wait(timeout)

    def stop_ffmpeg(self) -> None:
        if self._ffmpeg is not None and self._ffmpeg.poll() is None:
            self._ffmpeg.kill()
            self._ffmpeg.wait()

    def wait_segments(self, count: int, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        playlist = self.folder / "live.m3u8"
        while not playlist.exists() or playlist.read_text().count("#EXTINF") < count:
            assert time.monotonic() < deadline, "the origin wrote no segments"
            time.sleep(0.05)

    def serve(self) -> None:
        handler = _handler(self.folder, self.faults)
        self._httpd = ThreadingHTTPServer(("127.0.0.1", self.port), handler)
        self._httpd.daemon_threads = True
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()

    def unserve(self) -> None:
        """Down: nothing listens on the port (connections are refused)."""
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def stall(self) -> None:
        self.faults.frozen_playlist = (self.folder / "live.m3u8").read_bytes()
        self.faults.mode = "stall"

    def stop(self) -> None:
        self.stop_ffmpeg()
        self.unserve()
        shutil.rmtree(self.folder, ignore_errors=True)


def _handler(folder: Path, faults: Faults) -> type[BaseHTTPRequestHandler]:
    class Handler(QuietHandler):

        def do_GET(self) -> None:
            name = self.path.split("?")[0].lstrip("/")
            faults.hits.append(name)
            if faults.mode == "404":
                return self.send(404, b"gone")
            if name == "live.m3u8" and faults.mode == "redirect":
                return self.send(302, b"", {"Location": faults.redirect})
            if name == "live.m3u8" and faults.mode == "stall":
                return self.send(200, faults.frozen_playlist, {"Content-Type": "application/vnd.apple.mpegurl"})
            path = folder / name
            if "/" in name or not path.is_file():
                return self.send(404, b"no such file")
            kind = "application/vnd.apple.mpegurl" if name.endswith(".m3u8") else "video/mp2t"
            return self.send(200, path.read_bytes(), {"Content-Type": kind})

    return Handler


def go_live(client: httpx.Client, url: str, **options: Any) -> dict[str, Any]:
    response = client.post("/api/sessions", json={"url": url, "live": True, "options": options})
    assert response.status_code == 202, response.text
    return response.json()  # type: ignore[no-any-return]


class Watch:
    """Follows a session's events in a thread, so a test acts while they arrive."""

    def __init__(self, client: httpx.Client, session_id: str) -> None:
        self.events: list[Received] = []
        self._thread = threading.Thread(target=follow, args=(client, session_id), kwargs={"into": self.events},
                                        daemon=True)
        self._thread.start()

    def until(self, check: Callable[[Received], bool], timeout: float = 30) -> Received:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for event in list(self.events):
                if check(event):
                    return event
            time.sleep(0.05)
        raise AssertionError(f"no such event in {[e.type for e in self.events]}")

    def incident(self, kind: str, state: str, timeout: float = 30) -> dict[str, Any]:
        return self.until(lambda e: e.type == "incident" and e.data["kind"] == kind and e.data["state"] == state,
                          timeout).data

    def media_s(self, at_least: float, timeout: float = 30) -> None:
        self.until(lambda e: e.type == "progress" and e.data["media_s"] >= at_least, timeout)

    def end(self, timeout: float = 60) -> Received:
        self._thread.join(timeout)
        assert self.events and self.events[-1].type in ("succeeded", "failed", "cancelled"), self.events[-3:]
        return self.events[-1]

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [e.data for e in self.events if e.type == kind]


def stop_after_black(client: httpx.Client, session_id: str, watch: Watch) -> dict[str, Any]:
    """A live session on Schedule(black=((3, 5),)) pulled in real time: its black incident closes with
    the schedule's span, it keeps up, and a stop ends it with a report of that one incident; the report."""
    black = watch.incident("black", "closed")
    assert black["end_s"] - black["start_s"] == pytest.approx(2.0, abs=0.15)
    progress = watch.of("progress")
    assert progress[-1]["lag_s"] < 2 and progress[-1]["fps"] > 20
    assert client.post(f"/api/sessions/{session_id}/stop").status_code == 202
    assert watch.end(timeout=15).type == "succeeded"
    report: dict[str, Any] = client.get(f"/api/sessions/{session_id}/results").json()
    assert [i["kind"] for i in report["incidents"]] == ["black"] and report["audio"] is not None
    return report
