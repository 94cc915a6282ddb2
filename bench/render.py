"""Render levers: what the annotated video costs and what each knob changes. Run by hand:

    .venv/bin/python bench/render.py [--rounds 3] [--only base,threads-2] [--file real.mp4]

On the 60 s 1280x720 30 fps H.264 test video of bench/analysis.py (made there, cached in
bench/out/), each variant runs in a process of its own: the project's Decoder at full size
(RENDER_LONGEST) feeding the project's Renderer (labels and six boxes drawn on every frame,
libx264 in its thread), nothing else; so the render's own cost, without the analysis. Beside
them, FFmpeg's decode-only (`ffmpeg -threads 2 -i f -f null -`, the headline's baseline), the
same decode through PyAV, and FFmpeg's own transcode to libx264 ultrafast (the encoder's floor,
without Python). Rounds are interleaved and each variant runs right after a run of the shipped
render ("base"), so that the pair shares the load of the moment: its ratios to base are the
median over the rounds of the pair's ratios; the other columns, the best wall time and the
least CPU of each command.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from statistics import median

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

# Each variant: what it changes from the shipped render.
VARIANTS: dict[str, dict[str, object]] = {
    "base": {},
    "no-pool": {"pool": False},
    "threads-1": {"x264": {"threads": "1"}},
    "threads-2": {"x264": {"threads": "2"}},
    "threads-4": {"x264": {"threads": "4"}},
    "zerolatency": {"x264": {"tune": "zerolatency"}},
    "no-lookahead": {"x264": {"x264-params": "rc-lookahead=0:sync-lookahead=0"}},
    "crf-28": {"x264": {"crf": "28"}},
    "queue-1": {"depth": 1},
    "queue-16": {"depth": 16},
    "exact-deblock": {"decoder": {"skip_loop_filter": "default"}},
    "draft": {"decoder": {"skip_loop_filter": "all", "flags2": "+fast"}},
    "mute": {"sound": False},
}
NOTES = {
    "base": "as shipped: libx264 ultrafast crf 23, its own threads, frame pool, queue of 4, no deblocking "
    "on non-reference frames, the source's sound carried (the generated video has none)",
    "no-pool": "a new full-size frame per decoded frame",
    "threads-1": "libx264 threads=1",
    "threads-2": "libx264 threads=2 (one per core)",
    "threads-4": "libx264 threads=4",
    "zerolatency": "tune=zerolatency (sliced threads, no lookahead)",
    "no-lookahead": "rc-lookahead=0, sync-lookahead=0",
    "crf-28": "crf 28: fewer bits (lower quality)",
    "queue-1": "encode queue depth 1",
    "queue-16": "encode queue depth 16",
    "exact-deblock": "decoder: every frame deblocked (before)",
    "draft": "decoder: no deblocking at all + flags2 fast (blocky pictures)",
    "mute": "without the source's sound (with --file F: what copying or re-encoding it costs)",
}


def child(variant: str, source: str) -> None:
    """One render of `source` with `variant`; prints frames."""
    from vidpulse.processing.decode import Decoder
    from vidpulse.processing.framepool import FramePool
    from vidpulse.processing.render import ENCODE_QUEUE, ENCODER_OPTIONS, RENDER_LONGEST, Renderer

    change = VARIANTS[variant]
    pool = FramePool() if change.get("pool", True) else None
    options = {**ENCODER_OPTIONS, **change.get("x264", {})}  # type: ignore[dict-item]
    depth = int(change.get("depth", ENCODE_QUEUE))  # type: ignore[call-overload]
    boxes = [(10, 10, 60, 40), (100, 50, 80, 60), (200, 100, 50, 50), (30, 120, 90, 40), (150, 20, 40, 90),
             (250, 140, 60, 30)]
    with tempfile.TemporaryDirectory() as out, Decoder(Path(source), 320, full_longest=RENDER_LONGEST,
                                                      full_pool=pool) as decoder:
        if "decoder" in change:
            decoder.stream.codec_context.options = dict(change["decoder"])  # type: ignore[call-overload]
        renderer: Renderer | None = None
        frames = 0
        for frame in decoder.frames():
            assert frame.full is not None
            if renderer is None:
                size = (frame.full.width, frame.full.height)
                sound = Path(source) if change.get("sound", True) else None
                renderer = Renderer(Path(out) / "a.mp4", decoder.fps, size, 320, pool, options=options, depth=depth,
                                    sound=sound)
            renderer.write(frame.full, frame.time_s, frames // 150, boxes)
            frames += 1
        assert renderer is not None
        renderer.close()
    print(frames)


@dataclass
class Runs:
    walls: list[float] = field(default_factory=list)
    cpus: list[float] = field(default_factory=list)


def record(runs: Runs, measured: tuple[float, float]) -> None:
    runs.walls.append(measured[0])
    runs.cpus.append(measured[1])


def run(argv: list[str]) -> tuple[float, float]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, cwd=ROOT)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--only", help="comma-separated variants (default: all)")
    parser.add_argument("--file", type=Path, help="another video instead of the generated one")
    parser.add_argument("--child", nargs=2, metavar=("VARIANT", "FILE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    from analysis import OUT, make_video

    path = args.file or OUT / "test-720p-60s.mp4"
    if not path.exists():
        OUT.mkdir(parents=True, exist_ok=True)
        make_video(path, 60, (1280, 720))
    ffmpeg = shutil.which("ffmpeg")
    commands: dict[str, list[str]] = {}
    if ffmpeg:
        commands["ffmpeg decode-only"] = [ffmpeg, "-v", "error", "-threads", "2", "-i", str(path), "-f", "null", "-"]
    commands["PyAV decode-only"] = [sys.executable, "-c", "import av, sys; c = av.open(sys.argv[1]); "
                                    "s = c.streams.video[0]; s.thread_type = 'AUTO'; "
                                    "print(sum(1 for _ in c.decode(s)))", str(path)]
    if ffmpeg:
        out = Path(tempfile.mkdtemp(prefix="vidpulse-bench-")) / "t.mp4"
        commands["ffmpeg transcode, libx264 ultrafast"] = [
            ffmpeg, "-v", "error", "-y", "-threads", "2", "-i", str(path), "-c:v", "libx264", "-preset", "ultrafast",
            "-crf", "23", "-pix_fmt", "yuv420p", str(out)]
    variants = args.only.split(",") if args.only else list(VARIANTS)
    for name in variants:
        commands[name] = [sys.executable, __file__, "--child", name, str(path)]
    load = os.getloadavg()[0]
    runs = {name: Runs() for name in commands}
    pairs: dict[str, list[tuple[float, float]]] = {name: [] for name in variants if name != "base"}
    for _ in range(args.rounds):
        for name, argv in commands.items():
            if name not in VARIANTS:
                record(runs[name], run(argv))
        for name in pairs:
            base, other = run(commands["base"]), run(commands[name])
            record(runs["base"], base)
            record(runs[name], other)
            pairs[name].append((base[0] / other[0], other[1] / base[1]))
    print(f"\n{args.rounds} interleaved rounds; load average {load:.1f} -> {os.getloadavg()[0]:.1f}\n")
    base_wall = min(runs["ffmpeg decode-only"].walls) if ffmpeg else None
    print("| command | wall s, best | CPU s, least | vs ffmpeg decode-only | speed vs base (pairs) "
          "| CPU vs base (pairs) | what |")
    print("|---|---|---|---|---|---|---|")
    for name, r in runs.items():
        wall, cpu = min(r.walls), min(r.cpus)
        ratio = f"{base_wall / wall:.2f}x" if base_wall else "-"
        speed = cost = ""
        if pairs.get(name):
            speeds, costs = zip(*pairs[name], strict=True)
            speed = f"{median(speeds):.2f}x ({', '.join(f'{v:.2f}' for v in speeds)})"
            cost = f"{median(costs):.2f}x ({', '.join(f'{v:.2f}' for v in costs)})"
        print(f"| {name} | {wall:.2f} | {cpu:.2f} | {ratio} | {speed} | {cost} | {NOTES.get(name, '')} |")
    print("\n" + json.dumps({k: {"walls": v.walls, "cpus": v.cpus} for k, v in runs.items()}))


if __name__ == "__main__":
    main()
