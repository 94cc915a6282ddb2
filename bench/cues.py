"""What the technical cues cost: run by hand, never by the tests.

    git archive main | tar -x -C /tmp/vidpulse-main     # a checkout without the cues
    .venv/bin/python bench/cues.py --baseline-src /tmp/vidpulse-main [--rounds 5]

On bench/analysis.py's 60 s 1280x720 30 fps test video (made and cached in bench/out/ as there):
1. whole-process CPU (every thread, start-up and finalize included, timed from outside) of
   `python -m vidpulse.server.cli analyze` in this checkout, every cue on, against the baseline
   checkout, interleaved rounds; the least CPU of each counts, and their ratio (target: 1.15 at
   most); on the video as it is (no sound) and with a stereo track added;
2. in-process, the main thread's CPU per frame of each cue: the decoder probe's parts (the levels
   sample, idet on its strip), each detector's update, and the audio cues on the same video with a
   stereo track added; beside them, the alternatives timed the same way on the same decoded frames:
   FFmpeg's signalstats on the decoded picture and on a 320x180 copy, idet on the whole decoded
   picture, aphasemeter on the same audio frames.
Prints Markdown tables for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import av.filter
import numpy as np
from analysis import OUT, Command, make_video, run_process, vidpulse_inner
from av.audio.frame import AudioFrame
from av.video.frame import VideoFrame

from vidpulse.processing import AnalysisOptions, analyze
from vidpulse.processing.analyzers import cues as video_cues
from vidpulse.processing.analyzers.cues import probe as cue_probe
from vidpulse.processing.audio_cues import AudioCues
from vidpulse.processing.decode import Decoder, open_video

ROOT = Path(__file__).resolve().parents[1]
SECONDS = 60.0
SIZE = (1280, 720)


class Clock:
    """The main thread's CPU time per label, in nanoseconds."""

    def __init__(self) -> None:
        self.spent: dict[str, int] = {}

    def wrap(self, label: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.thread_time_ns()
            try:
                return fn(*args, **kwargs)
            finally:
                self.spent[label] = self.spent.get(label, 0) + time.thread_time_ns() - started

        return timed

    def per_frame(self, label: str, frames: int) -> float:
        return self.spent.get(label, 0) / max(1, frames) / 1e6


# 1. Whole process -------------------------------------------------------------------------------


def whole_process(video: Path, baseline: Path, rounds: int) -> list[str]:
    out = Path(tempfile.mkdtemp(prefix="vidpulse-bench-cues-"))
    argv = [sys.executable, "-m", "vidpulse.server.cli", "analyze", str(video), "--json", "--out"]
    commands = {"cues": Command([*argv, str(out / "c")], vidpulse_inner, cwd=ROOT),
                "baseline": Command([*argv, str(out / "b")], vidpulse_inner, cwd=baseline)}
    cpu: dict[str, list[float]] = {name: [] for name in commands}
    wall: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(rounds):
        for name, command in commands.items():
            done = run_process(command)
            cpu[name].append(done.cpu_s)
            wall[name].append(done.wall_s)
    shutil.rmtree(out, ignore_errors=True)
    ratio = min(cpu["cues"]) / min(cpu["baseline"])
    per_round = ", ".join(f"{c / b:.3f}" for c, b in zip(cpu["cues"], cpu["baseline"], strict=True))
    return [
        "| whole process, 60 s 720p | this checkout (every cue) | baseline | ratio |",
        "|---|---|---|---|",
        f"| CPU, least of {rounds} (s) | {min(cpu['cues']):.2f} | {min(cpu['baseline']):.2f} | **{ratio:.3f}** "
        f"(rounds {per_round}) |",
        f"| wall, least of {rounds} (s) | {min(wall['cues']):.2f} | {min(wall['baseline']):.2f} | "
        f"{min(wall['cues']) / min(wall['baseline']):.3f} |",
    ]


# 2. Each cue in process ------------------------------------------------------------------------


def cue_costs(video: Path) -> tuple[Clock, int]:
    """One analysis with every cue detector and probe part timed."""
    clock = Clock()
    made = video_cues.VideoCues.__init__

    def init(self: video_cues.VideoCues, *args: Any, **kwargs: Any) -> None:
        made(self, *args, **kwargs)
        for name in ("bars", "letterbox", "levels", "interlace"):
            detector = getattr(self, name)
            detector.update = clock.wrap(f"{name} (update)", detector.update)

    saved = (video_cues.VideoCues.__init__, cue_probe.sample_levels, cue_probe.FieldMeter.push, AudioCues.feed,
             cue_probe.plane_views)
    video_cues.VideoCues.__init__ = init
    cue_probe.plane_views = clock.wrap("probe: the planes' views (once per picture)", cue_probe.plane_views)
    cue_probe.sample_levels = clock.wrap("levels (probe: 24 rows of each plane)", cue_probe.sample_levels)
    cue_probe.FieldMeter.push = clock.wrap("interlace (probe: idet on 2 bands of 64 columns)",
                                           cue_probe.FieldMeter.push)
    AudioCues.feed = clock.wrap("audio_phase + channel_silent (audio frames)", AudioCues.feed)
    out = Path(tempfile.mkdtemp(prefix="vidpulse-bench-cues-"))
    try:
        report = analyze(video, out, AnalysisOptions(qc_profile="broadcast_hd"))
    finally:
        (video_cues.VideoCues.__init__, cue_probe.sample_levels, cue_probe.FieldMeter.push, AudioCues.feed,
         cue_probe.plane_views) = saved
        shutil.rmtree(out, ignore_errors=True)
    return clock, int(report["analysed"]["frames"])


class FilterOnFrames:
    """An FFmpeg filter chain fed the decoded pictures (or audio frames) one by one."""

    def __init__(self, chain: list[tuple[str, str]], audio: bool = False) -> None:
        self.chain, self.audio = chain, audio
        self.graph: av.filter.Graph | None = None
        self.count = 0

    def __call__(self, frame: VideoFrame | AudioFrame) -> None:
        if self.graph is None:
            self.graph = av.filter.Graph()
            if isinstance(frame, AudioFrame):
                node = self.graph.add_abuffer(format=frame.format.name, sample_rate=frame.sample_rate,
                                              layout=frame.layout.name, time_base=Fraction(1, frame.sample_rate))
            else:
                node = self.graph.add_buffer(width=frame.width, height=frame.height, format=frame.format,
                                             time_base=Fraction(1, 30))
            for name, args in [*self.chain, ("abuffersink" if self.audio else "buffersink", "")]:
                following = self.graph.add(name, args)
                node.link_to(following)
                node = following
            self.graph.configure()
        frame.pts = self.count * (frame.samples if isinstance(frame, AudioFrame) else 1)
        self.count += 1
        self.graph.push(frame)
        while True:
            try:
                self.graph.pull()
            except (av.BlockingIOError, av.EOFError):
                return


def alternatives(video: Path) -> tuple[Clock, int]:
    """The measurements the cues chose against, on the same decoded pictures (one decode)."""
    clock = Clock()
    chosen_levels = clock.wrap("levels: 24 rows of each plane (chosen)", cue_probe.sample_levels)
    meter = cue_probe.FieldMeter()
    chosen_idet = clock.wrap("interlace: idet on 2 bands of 64 columns (chosen)", meter.push)
    others = {
        "levels: signalstats on the decoded picture": FilterOnFrames([("signalstats", "")]),
        "levels: signalstats on a 320x180 copy": FilterOnFrames([("scale", "320:180"), ("signalstats", "")]),
        "interlace: idet on the whole decoded picture": FilterOnFrames([("idet", "")]),
    }
    timed_others = {label: clock.wrap(label, run) for label, run in others.items()}
    frames = 0

    def probe(frame: VideoFrame) -> None:
        nonlocal frames
        frames += 1
        chosen_levels(frame)
        chosen_idet(frame)
        for run in timed_others.values():
            run(frame)

    with Decoder(video, 320, probe=probe) as decoder:
        for _ in decoder.frames():
            pass
    return clock, frames


def audio_alternatives(video: Path, frames: int) -> Clock:
    """Phase by numpy on the samples (chosen) against aphasemeter, on the same audio frames."""
    clock = Clock()
    cues = AudioCues()
    chosen = clock.wrap("audio_phase + channel_silent: numpy on the samples (chosen)", cues.feed)
    phasemeter = clock.wrap("audio_phase: aphasemeter", FilterOnFrames([("aphasemeter", "video=0")], audio=True))
    container, _ = open_video(video)
    with container:
        for frame in container.decode(audio=0):
            samples = frame.to_ndarray()  # the AudioMeter's conversion, which the cues share
            chosen(frame, samples, float(frame.time or 0.0))
            phasemeter(frame)
    return clock


def with_sound(video: Path) -> Path:
    """The test video with a stereo AAC track (music-like, in phase) muxed in."""
    path = video.with_name(video.stem + "-sound.mp4")
    if path.exists():
        return path
    rate = 48000
    t = np.arange(round(SECONDS * rate)) / rate
    rng = np.random.default_rng(1)
    common = 0.1 * np.sin(2 * np.pi * 440 * t) + rng.normal(0, 0.02, t.size)
    sound = np.stack([common + rng.normal(0, 0.01, t.size), common + rng.normal(0, 0.01, t.size)]).astype(np.float32)
    partial = path.with_name(path.name + ".partial.mp4")
    sent = 0
    with av.open(str(video)) as source, av.open(str(partial), "w") as out:
        vin = source.streams.video[0]
        vout = out.add_stream_from_template(vin)
        aout = out.add_stream("aac", rate=rate, layout="stereo")

        def send_audio(until_s: float) -> None:
            nonlocal sent
            while sent < min(round(until_s * rate), sound.shape[1]):
                part = np.ascontiguousarray(sound[:, sent : sent + 1024])
                frame = av.AudioFrame.from_ndarray(part, format="fltp", layout="stereo")
                frame.sample_rate, frame.pts = rate, sent
                out.mux(aout.encode(frame))
                sent += part.shape[1]

        for packet in source.demux(vin):
            if packet.dts is None:
                continue
            send_audio(float(packet.dts * vin.time_base) + 0.1)  # interleaved, as a camera writes them
            packet.stream = vout
            out.mux(packet)
        send_audio(SECONDS)
        out.mux(aout.encode(None))
    partial.rename(path)
    return path


def table(title: str, clock: Clock, frames: int) -> list[str]:
    rows = [f"| {title} | ms per frame (main thread CPU) |", "|---|---|"]
    rows += [f"| {label} | {clock.per_frame(label, frames):.3f} |" for label in clock.spent]
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--baseline-src", type=Path, help="a checkout without the cues (whole-process ratio)")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    video = OUT / f"test-720p-{SECONDS:g}s.mp4"
    make_video(video, SECONDS, SIZE)
    sound = with_sound(video)
    print(f"load average before: {os.getloadavg()[0]:.2f}\n", flush=True)
    if args.baseline_src is not None:
        for clip in (video, sound):
            print(f"{clip.name}:\n", flush=True)
            print("\n".join(whole_process(clip, args.baseline_src.resolve(), args.rounds)) + "\n", flush=True)
    clock, frames = cue_costs(sound)
    print("\n".join(table(f"each cue, in the analysis ({frames} frames)", clock, frames)) + "\n", flush=True)
    clock, frames = alternatives(video)
    print("\n".join(table(f"chosen against the alternatives ({frames} frames)", clock, frames)) + "\n", flush=True)
    print("\n".join(table("per video frame (30 fps), audio", audio_alternatives(sound, frames), frames)), flush=True)
    print(f"\nload average after: {os.getloadavg()[0]:.2f}", flush=True)


if __name__ == "__main__":
    main()
