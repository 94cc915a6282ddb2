"""Analysis benchmark: run by hand (`make bench`, `make bench-quick` or the commands below), never
by the tests.

    .venv/bin/python bench/analysis.py --quick            # the headline ratios only, about a minute
    .venv/bin/python bench/analysis.py [--seconds 60] [--rounds 3] [--skip-4k]

In one run it generates a 1280x720 30 fps H.264 test video with known cuts, fades, a
dissolve and flashes (cached in bench/out/), then reports:
1. the headline ratios (docs/benchmarks.md), whole process (start-up and finalize included, timed from
   outside) and in-process (the work call alone, timed inside) side by side:
   `vidpulse analyze` against `ffmpeg -threads 2 -i f -f null -` (decode only) and against
   PySceneDetect's `detect(path, ContentDetector())`, and `vidpulse analyze --render` against
   decode-only; interleaved rounds, the best of each counts;
2. analysis fps against decode-only fps of the same file with the same decoder (PyAV);
3. analysis fps against PySceneDetect's ContentDetector and AdaptiveDetector, and each tool's
   cuts against the truth;
4. peak RSS of an analysis process for 720p and 4K input, at two lengths each.
Prints Markdown tables for docs/benchmarks.md.

PySceneDetect (`scenedetect-headless`, which uses opencv-python-headless like the project)
runs in a subprocess with `--scenedetect-python`, so it may live in its own venv (`make
.bench-venv/bin/python`). The FFmpeg command-line tool is a system package (`apt-get install -y
ffmpeg`): without it the bench says so and reports the in-process ratios only.
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
import textwrap
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import av
import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from vidpulse.processing import (  # noqa: E402
    AnalysisOptions,
    Progress,
    analyze,
    decode,
)
from vidpulse.processing.decode import Decoder, decoded_frames, open_video  # noqa: E402

OUT = ROOT / "bench" / "out"
FPS = 30


# Test video ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Shot:
    """One shot: a textured picture that pans `pan` px a frame, optionally with a moving box."""

    seconds: float
    seed: int
    pan: int = 2
    box: bool = False
    flash_at: float | None = None  # seconds into the shot: one white frame
    enter: str = "hard"  # how the shot begins: hard, fade (out of black after a fade out), dissolve


# One minute: hard cuts, a fade through black, a dissolve, a fast pan, a large fast object and
# two flashes, none of which (but the transitions) is a cut.
PATTERN = [
    Shot(4.0, 1),
    Shot(4.0, 2, box=True, flash_at=2.0),
    Shot(4.0, 3, pan=24),
    Shot(4.0, 4, enter="fade"),
    Shot(4.0, 5, enter="dissolve", box=True),
    Shot(5.0, 6, flash_at=1.5),
]
FADE_S, BLACK_S, DISSOLVE_S = 0.6, 0.5, 0.5


class Film:
    """The test video as a function of the frame number, with its truth computed up front."""

    def __init__(self, seconds: float, size: tuple[int, int]) -> None:
        self.size = size
        self.shots: list[Shot] = []
        total = 0.0
        while total < seconds - 0.5:
            for shot in PATTERN:
                length = min(shot.seconds, seconds - total)
                if length < 0.5:
                    break
                self.shots.append(
                    Shot(length, shot.seed + len(self.shots), shot.pan, shot.box, shot.flash_at, shot.enter)
                )
                total += length
        self.pieces: list[tuple[int, Callable[[int], np.ndarray]]] = []
        self.truth: list[tuple[int, str]] = []
        self._plan()
        # Transitions add frames: shorten the last shot to land on the length asked for.
        target = round(seconds * FPS)
        while self.frames > target:
            _, make = self.pieces.pop()
            if self.frames < target:
                self.pieces.append((target - self.frames, make))
        self.truth = [(frame, kind) for frame, kind in self.truth if frame < self.frames - 1]

    @property
    def frames(self) -> int:
        return sum(n for n, _ in self.pieces)

    def __iter__(self) -> Iterator[np.ndarray]:
        for n, make in self.pieces:
            for i in range(n):
                yield make(i)

    def _plan(self) -> None:
        black = np.zeros((self.size[1], self.size[0], 3), np.uint8)
        fade, dark, dissolve = round(FADE_S * FPS), round(BLACK_S * FPS), round(DISSOLVE_S * FPS)
        for number, shot in enumerate(self.shots):
            n = round(shot.seconds * FPS)
            picture = self._picture(shot, n)
            if number:
                before = self.shots[number - 1]
                last = self._picture(before, round(before.seconds * FPS))(round(before.seconds * FPS) - 1)
                first = picture(0)
                if shot.enter == "fade":
                    # A fade-out, black and a fade-in: one transition, its cut where the picture returns.
                    self._add(fade, lambda i, a=last: _blend(a, black, (i + 1) / fade))
                    self._add(dark, lambda i: black)
                    self.truth.append((self.frames, "fade"))
                    self._add(fade, lambda i, b=first: _blend(black, b, (i + 1) / (fade + 1)))
                elif shot.enter == "dissolve":
                    self.truth.append((self.frames + dissolve // 2, "dissolve"))
                    self._add(dissolve, lambda i, a=last, b=first: _blend(a, b, (i + 1) / (dissolve + 1)))
                else:
                    self.truth.append((self.frames, "hard"))
            self._add(n, picture)

    def _add(self, count: int, make: Callable[[int], np.ndarray]) -> None:
        self.pieces.append((count, make))

    def _picture(self, shot: Shot, n: int) -> Callable[[int], np.ndarray]:
        width, height = self.size
        canvas = _texture(shot.seed, width + shot.pan * n + 8, height)
        flash = None if shot.flash_at is None else round(shot.flash_at * FPS)
        side = height // 3

        def make(i: int) -> np.ndarray:
            if i == flash:
                return np.full((height, width, 3), 255, np.uint8)
            frame = canvas[:, i * shot.pan : i * shot.pan + width].copy()
            if shot.box:
                x = int((width - side) * i / max(1, n - 1))
                frame[height // 3 : height // 3 + side, x : x + side] = (230, 200, 40)
            return frame

        return make


def _texture(seed: int, width: int, height: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    block = 40
    small = rng.integers(0, 256, size=(height // block + 2, width // block + 2, 3), dtype=np.uint8)
    big = cv2.resize(small, (small.shape[1] * block, small.shape[0] * block), interpolation=cv2.INTER_NEAREST)
    return np.ascontiguousarray(cv2.GaussianBlur(big, (0, 0), 2)[:height, :width])


def _blend(a: np.ndarray, b: np.ndarray, t: float) -> np.ndarray:
    return cv2.addWeighted(a, 1 - t, b, t, 0)


def make_video(path: Path, seconds: float, size: tuple[int, int]) -> Film:
    """Write the test video unless it is already there; return its description."""
    film = Film(seconds, size)
    if path.exists():
        return film
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial.mp4")
    with av.open(str(partial), "w") as container:
        stream = container.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = size[0], size[1], "yuv420p"
        stream.options = {"preset": "veryfast", "crf": "23"}
        for rgb in film:
            for packet in stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    partial.rename(path)
    return film


# Measurements ----------------------------------------------------------------------------------


def _rate(frames: int, seconds: float) -> float:
    return frames / seconds if seconds > 0 else 0.0


@dataclass(frozen=True)
class Timed:
    fps: float  # frames per second of wall time
    cpu_ms: float  # CPU time of the whole process (every thread) per frame


def timed(run: Callable[[], int]) -> Timed:
    wall, cpu = time.perf_counter(), time.process_time()
    frames = run()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return Timed(_rate(frames, wall), 1000 * cpu / max(1, frames))


def best(runs: list[Timed]) -> Timed:
    """The fastest of repeated runs: on a shared machine the others measure the neighbours."""
    return max(runs, key=lambda r: r.fps)


def decode_only(path: Path) -> int:
    """The ceiling: the same demux + decode the analysis uses, with nothing done to the frames."""
    container, stream = open_video(path)
    stream.thread_type = "AUTO"
    count = sum(1 for _ in decoded_frames(container, stream))
    container.close()
    return count


def decoder_loop(path: Path, colour_every: int) -> int:
    """The project's Decoder: luma (and colour) at 320 px wide, no analysis."""
    with Decoder(path, 320, colour_every=colour_every) as decoder:
        return sum(1 for _ in decoder.frames())


def pyav_convert(path: Path, convert: Callable[[av.VideoFrame], object]) -> int:
    container, stream = open_video(path)
    stream.thread_type = "AUTO"
    count = 0
    for frame in decoded_frames(container, stream):
        convert(frame)
        count += 1
    container.close()
    return count


def opencv_read(path: Path) -> int:
    capture = cv2.VideoCapture(str(path))
    count = 0
    while capture.read()[0]:
        count += 1
    capture.release()
    return count


@dataclass(frozen=True)
class Run:
    whole: Timed  # the whole analyze() call: probe, loop, render flush, report, plot
    loop_fps: float  # the frame loop alone (the "analyze" stage's own fps)
    cuts: list[tuple[int, str]]


def analysis(path: Path, render: bool, read_ahead: int = decode.READ_AHEAD) -> Run:
    loop = [0.0]
    cuts: list[tuple[int, str]] = []

    def progress(p: Progress) -> None:
        if p.stage == "analyze":
            loop[0] = p.fps

    def run() -> int:
        out = Path(tempfile.mkdtemp(prefix="vidpulse-bench-"))
        saved, decode.READ_AHEAD = decode.READ_AHEAD, read_ahead
        try:
            report = analyze(path, out, AnalysisOptions(render=render), on_progress=progress)
        finally:
            decode.READ_AHEAD = saved
            shutil.rmtree(out, ignore_errors=True)
        cuts.extend((c["frame"], c["kind"]) for c in report["cuts"])
        return int(report["analysed"]["frames"])

    whole = timed(run)
    return Run(whole, loop[0], cuts)


def paired_ratios(path: Path, pairs: int, render: bool = False) -> list[float]:
    """analysis fps / decode-only fps of back-to-back runs: the load of the moment cancels out
    better within a pair than between the best runs of different moments."""
    ratios = []
    for _ in range(pairs):
        ceiling = timed(lambda: decode_only(path))
        ratios.append(analysis(path, render=render).whole.fps / ceiling.fps)
    return sorted(ratios)


def best_run(runs: list[Run]) -> Run:
    return max(runs, key=lambda r: r.whole.fps)


_SCENEDETECT = textwrap.dedent(
    """
    import json, sys, time
    from scenedetect import detect, ContentDetector, AdaptiveDetector
    path = sys.argv[1]
    out = {}
    for name, make in (("ContentDetector", ContentDetector), ("AdaptiveDetector", AdaptiveDetector)):
        wall, cpu = time.perf_counter(), time.process_time()
        scenes = detect(path, make())
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        out[name] = {"seconds": wall, "cpu": cpu, "cuts": [s[0].get_frames() for s in scenes[1:]]}
    print(json.dumps(out))
    """
)


def scenedetect_runs(python: str, path: Path, frames: int) -> dict[str, tuple[Timed, list[int]]]:
    """Both detectors' default `detect()` on the file, timed inside the subprocess."""
    done = subprocess.run([python, "-c", _SCENEDETECT, str(path)], capture_output=True, text=True, check=True)
    data = json.loads(done.stdout.strip().splitlines()[-1])
    return {
        name: (Timed(frames / run["seconds"], 1000 * run["cpu"] / frames), run["cuts"]) for name, run in data.items()
    }


_RSS = textwrap.dedent(
    """
    import json, resource, sys, tempfile, time
    sys.path.insert(0, sys.argv[1])
    from pathlib import Path
    from vidpulse.processing import AnalysisOptions, analyze
    out = Path(tempfile.mkdtemp())
    started = time.perf_counter()
    report = analyze(Path(sys.argv[2]), out, AnalysisOptions(render=sys.argv[3] == "1"))
    # getrusage's ru_maxrss carries the high-water mark of the process image that exec replaced
    # (the forked benchmark, hundreds of MB): VmHWM belongs to this image alone.
    hwm = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:"))
    print(json.dumps({"frames": report["analysed"]["frames"], "seconds": time.perf_counter() - started,
                      "max_rss_mb": hwm / 1024,
                      "getrusage_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
    """
)


def peak_rss(path: Path, render: bool = False) -> dict[str, float]:
    done = subprocess.run(
        [sys.executable, "-c", _RSS, str(ROOT), str(path), "1" if render else "0"],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def score(found: list[tuple[int, str]] | list[int], truth: list[tuple[int, str]]) -> str:
    """Matched / missed / false cuts: hard cuts within 2 frames, fades and dissolves within 8."""
    frames = [f if isinstance(f, int) else f[0] for f in found]
    unmatched = list(frames)
    hits = 0
    for frame, kind in truth:
        tolerance = 2 if kind == "hard" else 8
        near = [f for f in unmatched if abs(f - frame) <= tolerance]
        if near:
            unmatched.remove(min(near, key=lambda f: abs(f - frame)))
            hits += 1
    return f"{hits}/{len(truth)} found, {len(unmatched)} false"


# Whole processes (the headline) -----------------------------------------------------------


@dataclass(frozen=True)
class Process:
    """One command run to completion: wall time from outside, and the time of its work call
    measured inside (None when the tool cannot say)."""

    wall_s: float
    cpu_s: float  # user + system of the child and its threads
    inner_s: float | None
    cuts: tuple[int, ...] = ()


Inner = Callable[[str], tuple[float | None, tuple[int, ...]]]


@dataclass(frozen=True)
class Command:
    argv: list[str]
    inner: Inner
    cwd: Path | None = None
    env: dict[str, str] | None = None


def run_process(command: Command) -> Process:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(command.argv, capture_output=True, text=True, cwd=command.cwd, env=command.env)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode:
        raise RuntimeError(f"{' '.join(command.argv)} failed ({done.returncode}): {done.stderr.strip()[-500:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    seconds, cuts = command.inner(done.stdout)
    return Process(wall, cpu, seconds, cuts)


def ffmpeg_command(path: Path, fast: bool = False) -> list[str] | None:
    """`ffmpeg -threads 2 -i f -f null -`, or None when the FFmpeg CLI is not installed."""
    binary = shutil.which("ffmpeg")
    if binary is None:
        return None
    skip = ["-skip_loop_filter", "all", "-flags2", "fast"] if fast else []
    return [binary, "-hide_banner", "-loglevel", "error", "-threads", "2", *skip, "-i", str(path), "-f", "null", "-"]


def vidpulse_command(path: Path, out: Path, render: bool) -> list[str]:
    """The installed console script, exactly what a user runs."""
    script = Path(sys.executable).with_name("vidpulse")
    head = [str(script)] if script.exists() else [sys.executable, "-m", "vidpulse.server.cli"]
    return [*head, "analyze", str(path), "--out", str(out), "--json", *(["--render"] if render else [])]


def vidpulse_inner(stdout: str) -> tuple[float | None, tuple[int, ...]]:
    report = json.loads(stdout)
    return float(report["timing"]["wall_s"]), tuple(c["frame"] for c in report["cuts"])


_SCENEDETECT_ONE = textwrap.dedent(
    """
    import json, sys, time
    from scenedetect import detect, ContentDetector
    started = time.perf_counter()
    scenes = detect(sys.argv[1], ContentDetector())
    print(json.dumps({"seconds": time.perf_counter() - started, "cuts": [s[0].get_frames() for s in scenes[1:]]}))
    """
)


def scenedetect_inner(stdout: str) -> tuple[float | None, tuple[int, ...]]:
    data = json.loads(stdout.strip().splitlines()[-1])
    return float(data["seconds"]), tuple(data["cuts"])


def no_inner(stdout: str) -> tuple[float | None, tuple[int, ...]]:
    return None, ()


def headline(path: Path, frames: int, truth: list[tuple[int, str]], rounds: int, scenedetect_python: str,
             row: Callable[[str, str, str], None], baseline_src: Path | None = None) -> None:
    """The headline ratios: whole processes timed from outside, their work calls timed inside,
    interleaved rounds, the best of each. `baseline_src`: another checkout of the project (say
    `git archive main | tar -x -C DIR`) whose `vidpulse analyze` runs in the same rounds."""
    out = Path(tempfile.mkdtemp(prefix="vidpulse-bench-cli-"))
    commands: dict[str, Command] = {}
    ffmpeg, ffmpeg_fast = ffmpeg_command(path), ffmpeg_command(path, fast=True)
    if ffmpeg is None or ffmpeg_fast is None:
        print("*** ffmpeg (the FFmpeg command-line tool) is NOT installed: `apt-get install -y ffmpeg`. "
              "The ratios against FFmpeg's decode-only are NOT measured; PyAV's decode-only stands in "
              "for the in-process column only. ***", flush=True)
    else:
        commands["ffmpeg"] = Command(ffmpeg, no_inner)
        commands["ffmpeg fast"] = Command(ffmpeg_fast, no_inner)
    commands["analyze"] = Command(vidpulse_command(path, out / "a", render=False), vidpulse_inner)
    commands["render"] = Command(vidpulse_command(path, out / "r", render=True), vidpulse_inner)
    if baseline_src is not None:
        # `python -m` puts the working directory first on sys.path: its vidpulse/ wins.
        argv = [sys.executable, "-m", "vidpulse.server.cli", "analyze", str(path), "--json", "--out"]
        commands["baseline"] = Command([*argv, str(out / "b")], vidpulse_inner, cwd=baseline_src)
        commands["baseline render"] = Command([*argv, str(out / "br"), "--render"], vidpulse_inner, cwd=baseline_src)
    if Path(scenedetect_python).exists():
        commands["scenedetect"] = Command([scenedetect_python, "-c", _SCENEDETECT_ONE, str(path)], scenedetect_inner)
    else:
        print(f"*** PySceneDetect's python {scenedetect_python} is missing (`make .bench-venv/bin/python`): "
              "no ratio against it. ***", flush=True)
    runs: dict[str, list[Process]] = {name: [] for name in commands}
    decode_in: list[Timed] = []
    try:
        for _ in range(rounds):
            decode_in.append(timed(lambda: decode_only(path)))
            for name, command in commands.items():
                runs[name].append(run_process(command))
    finally:
        shutil.rmtree(out, ignore_errors=True)
    fastest = {name: min(r, key=lambda p: p.wall_s) for name, r in runs.items()}
    least_cpu = {name: min(p.cpu_s for p in r) for name, r in runs.items()}
    inner_best = {name: min(p.inner_s for p in r if p.inner_s is not None)
                  for name, r in runs.items() if any(p.inner_s is not None for p in r)}
    inner_best["pyav decode"] = frames / best(decode_in).fps

    def fps(seconds: float | None) -> str:
        return "-" if seconds is None else f"{frames / seconds:.0f}"

    print(f"\n{frames} frames; best of {rounds} interleaved rounds; load average {os.getloadavg()[0]:.2f}")
    print("\n| command | whole process s (fps) | least CPU s | work call in-process s (fps) |\n|---|---|---|---|")
    labels = {
        "ffmpeg": "`ffmpeg -threads 2 -i f -f null -` (decode only)",
        "ffmpeg fast": "`ffmpeg -threads 2 -skip_loop_filter all -flags2 fast -i f -f null -`",
        "analyze": "`vidpulse analyze f` (in-process: `analyze()`)",
        "render": "`vidpulse analyze --render f`",
        "baseline": f"`vidpulse analyze f` of {baseline_src}",
        "baseline render": f"`vidpulse analyze --render f` of {baseline_src}",
        "scenedetect": "PySceneDetect `detect(f, ContentDetector())` (+ import)",
    }
    for name, p in fastest.items():
        work_s = inner_best.get(name)
        print(f"| {labels[name]} | {p.wall_s:.2f} ({fps(p.wall_s)}) | {least_cpu[name]:.2f} | "
              f"{'-' if work_s is None else f'{work_s:.2f}'} ({fps(work_s)}) |")
    print(f"| PyAV decode only, in the bench process | - | - | {inner_best['pyav decode']:.2f} "
          f"({fps(inner_best['pyav decode'])}) |")
    print()

    short = {"ffmpeg": "ffmpeg decode-only", "analyze": "vidpulse analyze", "render": "vidpulse analyze --render",
             "scenedetect": "PySceneDetect ContentDetector", "pyav decode": "PyAV decode-only",
             "baseline": "baseline vidpulse analyze", "baseline render": "baseline vidpulse analyze --render"}

    def ratio(name: str, base: str, target: float | None, in_base: str) -> None:
        """Speed of `name` over `base` (their time the other way round), whole and in-process."""
        if name not in fastest:
            return
        whole = f"{fastest[base].wall_s / fastest[name].wall_s:.2f}x" if base in fastest else "NOT MEASURED"
        per_round = sorted(b.wall_s / a.wall_s for a, b in zip(runs[name], runs.get(base, []), strict=False))
        spread = f"; rounds {', '.join(f'{r:.2f}' for r in per_round)}" if per_round else ""
        inside, mine = inner_best.get(in_base), inner_best.get(name)
        in_ratio = f"{inside / mine:.2f}x (vs {short[in_base]})" if inside and mine else "-"
        # CPU time moves less with the neighbours than wall time does: the steadier companion.
        cpu = f"; CPU {least_cpu[name] / least_cpu[base]:.2f}x theirs" if base in fastest else ""
        row(f"{short[name]} / {short[base]}, whole process", whole,
            f"{'' if target is None else f'target {target}x; '}in-process {in_ratio}{spread}{cpu}")

    ratio("analyze", "ffmpeg", 1.0, in_base="pyav decode")
    ratio("analyze", "scenedetect", 1.5, in_base="scenedetect")
    ratio("render", "ffmpeg", 0.4, in_base="pyav decode")
    if "baseline" in fastest:
        ratio("baseline", "ffmpeg", 1.0, in_base="pyav decode")
        ratio("analyze", "baseline", None, in_base="baseline")
        ratio("baseline render", "ffmpeg", 0.4, in_base="pyav decode")
        ratio("render", "baseline render", None, in_base="baseline render")
    if "ffmpeg fast" in fastest:
        row("ffmpeg with -skip_loop_filter all -flags2 fast vs plain",
            f"{fastest['ffmpeg'].wall_s / fastest['ffmpeg fast'].wall_s:.2f}x", "decode only, both whole process")
    for name in ("analyze", "scenedetect"):
        if name in fastest:
            found = runs[name][-1].cuts
            row(f"{short[name]} cuts vs truth", score(list(found), truth), exact_hard(found, truth))


def exact_hard(found: Sequence[int], truth: list[tuple[int, str]]) -> str:
    hard = [frame for frame, kind in truth if kind == "hard"]
    exact = sum(1 for frame in hard if frame in found)
    return f"hard cuts on the exact frame: {exact}/{len(hard)}"


# Report ----------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument(
        "--scenedetect-python",
        default=os.environ.get("SCENEDETECT_PYTHON", str(ROOT / ".bench-venv" / "bin" / "python")),
    )
    parser.add_argument("--skip-4k", action="store_true")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved repeats; the best counts")
    parser.add_argument("--profile", action="store_true", help="print where one analysis spends its time")
    parser.add_argument("--accuracy", action="store_true", help="only the accuracy suite's table, then stop")
    parser.add_argument("--render-pairs", type=int, metavar="N", help="only N rounds of render vs decode-only pairs")
    parser.add_argument(
        "--baseline", type=Path, help="also the accuracy table of the analysis in this checkout (e.g. `git archive`)"
    )
    parser.add_argument("--quick", action="store_true", help="the headline ratios only (make bench-quick)")
    parser.add_argument("--baseline-src", type=Path, help="a checkout whose `vidpulse analyze` runs alongside")
    args = parser.parse_args()
    if args.render_pairs:
        path = OUT / f"test-720p-{args.seconds:g}s.mp4"
        make_video(path, args.seconds, (1280, 720))
        print(f"load average before: {os.getloadavg()[0]:.2f}", flush=True)
        render_pairs(path, args.render_pairs, args.baseline)
        print(f"load average after: {os.getloadavg()[0]:.2f}", flush=True)
        return
    if args.accuracy or args.baseline:
        if args.baseline:
            print(f"### accuracy, baseline ({args.baseline})\n\n{accuracy_table(args.baseline)}\n", flush=True)
        print(f"### accuracy, this checkout\n\n{accuracy_table(ROOT)}\n", flush=True)
        if args.accuracy:
            return

    seconds = args.seconds
    main_video = OUT / f"test-720p-{seconds:g}s.mp4"
    film = make_video(main_video, seconds, (1280, 720))
    truth = film.truth
    rows: list[tuple[str, str, str]] = []

    def row(what: str, value: str, note: str = "") -> None:
        rows.append((what, value, note))
        print(f"{what:55s} {value:>12s}  {note}", flush=True)

    print(f"load average before: {os.getloadavg()[0]:.2f}", flush=True)
    # Warm up once: file cache, the interpreter's bytecode caches.
    analysis(main_video, render=False)
    headline(main_video, film.frames, truth, args.rounds, args.scenedetect_python, row, args.baseline_src)
    if args.quick:
        _print_rows(rows)
        return
    variants: dict[str, Callable[[], Timed]] = {
        "decode": lambda: timed(lambda: decode_only(main_video)),
        "Decoder: luma at 320 px": lambda: timed(lambda: decoder_loop(main_video, 0)),
        "Decoder: luma + colour copy every frame": lambda: timed(lambda: decoder_loop(main_video, 1)),
        "PyAV to_ndarray('gray')": lambda: timed(
            lambda: pyav_convert(main_video, lambda f: f.to_ndarray(format="gray"))
        ),
        "PyAV reformat(320, 180, 'gray')": lambda: timed(
            lambda: pyav_convert(main_video, lambda f: f.reformat(320, 180, "gray"))
        ),
        "PyAV to_ndarray('bgr24')": lambda: timed(
            lambda: pyav_convert(main_video, lambda f: f.to_ndarray(format="bgr24"))
        ),
        "OpenCV VideoCapture.read()": lambda: timed(lambda: opencv_read(main_video)),
    }
    results: dict[str, list[Timed]] = {name: [] for name in variants}
    runs: dict[str, list[Run]] = {"threaded": [], "inline": [], "render": []}
    others: dict[str, list[tuple[Timed, list[int]]]] = {}
    # Interleaved rounds, best of each: a noisy neighbour then slows every variant alike, and
    # the best run is the one it disturbed least.
    for _ in range(args.rounds):
        for name, run in variants.items():
            results[name].append(run())
        runs["threaded"].append(analysis(main_video, render=False))
        runs["inline"].append(analysis(main_video, render=False, read_ahead=0))
        runs["render"].append(analysis(main_video, render=True))
        try:
            for name, outcome in scenedetect_runs(args.scenedetect_python, main_video, film.frames).items():
                others.setdefault(name, []).append(outcome)
        except (OSError, subprocess.CalledProcessError) as exc:
            print(f"PySceneDetect not run: {exc}", flush=True)
    ceiling = best(results.pop("decode"))
    plain, flat, drawn = (best_run(runs[k]) for k in ("threaded", "inline", "render"))

    def versus(t: Timed, target: str = "") -> str:
        cpu = ceiling.cpu_ms / t.cpu_ms
        return f"{t.fps / ceiling.fps:.2f}x decode{target}; CPU {t.cpu_ms:.2f} ms/frame ({cpu:.2f}x decode's)"

    row(
        "PyAV decode only (thread_type AUTO), fps",
        f"{ceiling.fps:.0f}",
        f"the ceiling; CPU {ceiling.cpu_ms:.2f} ms/frame",
    )
    row("analysis, whole analyze() call, fps", f"{plain.whole.fps:.0f}", versus(plain.whole, " (target 0.85)"))
    row("analysis, frame loop only, fps", f"{plain.loop_fps:.0f}", f"{plain.loop_fps / ceiling.fps:.2f}x decode")
    row("analysis, decoding inline (no decode thread), fps", f"{flat.whole.fps:.0f}", versus(flat.whole))
    row("analysis + render, whole call, fps", f"{drawn.whole.fps:.0f}", versus(drawn.whole, " (target 0.4)"))
    row("analysis cuts vs truth", score(plain.cuts, truth), f"{len(truth)} true transitions")
    for label, render in (("analysis", False), ("analysis + render", True)):
        ratios = paired_ratios(main_video, args.rounds + 2, render)
        spread = ", ".join(f"{r:.2f}" for r in ratios)
        row(f"{label} / decode-only, back-to-back pairs, median", f"{ratios[len(ratios) // 2]:.2f}x", spread)
    for name, timings in results.items():
        result = best(timings)
        row(f"{name}, fps", f"{result.fps:.0f}", versus(result))
    for name, outcomes in others.items():
        timing, cuts = max(outcomes, key=lambda o: o[0].fps)
        speed = f"analysis is {plain.whole.fps / timing.fps:.2f}x as fast (target 1.5)"
        row(f"PySceneDetect {name}, fps", f"{timing.fps:.0f}", f"{speed}; CPU {timing.cpu_ms:.2f} ms/frame")
        row(f"PySceneDetect {name} cuts vs truth", score(cuts, truth), "")

    sizes = [("720p", (1280, 720), seconds / 3), ("720p", (1280, 720), seconds)]
    if not args.skip_4k:
        sizes += [("4K", (3840, 2160), 5.0), ("4K", (3840, 2160), 10.0)]
    for label, size, length in sizes:
        path = OUT / f"test-{label}-{length:g}s.mp4"
        make_video(path, length, size)
        for render in (False, True):
            rss = peak_rss(path, render)
            row(
                f"peak RSS, {label} {length:g} s{' + render' if render else ''}",
                f"{rss['max_rss_mb']:.0f} MB",
                f"{rss['frames']} frames at {rss['frames'] / rss['seconds']:.0f} fps",
            )

    _print_rows(rows)
    if args.profile:
        profile(main_video)
    print(f"\ntruth: {truth}\nanalysis: {plain.cuts}")
    for name, outcomes in others.items():
        print(f"{name}: {outcomes[0][1]}")


_ACCURACY = textwrap.dedent(
    """
    import importlib.util, json, sys, tempfile
    from pathlib import Path
    # The suite's clips and scorer come from this checkout's tests/support/transitions.py, the analysis
    # from whatever `vidpulse` the path gives (this checkout, or a baseline).
    spec = importlib.util.spec_from_file_location("transitions", sys.argv[1])
    suite = sys.modules["transitions"] = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(suite)
    from vidpulse.processing import AnalysisOptions, analyze
    folder = Path(sys.argv[2])
    rows = []
    for shape in suite.SHAPES:
        for seconds in suite.DURATIONS_S:
            clip = suite.make_known_clip(folder, shape, seconds)
            with tempfile.TemporaryDirectory() as out:
                report = analyze(clip.path, Path(out), AnalysisOptions())
            rows.append((clip, suite.score(clip, report["cuts"])))
    print(suite.table(rows))
    """
)


def accuracy_table(checkout: Path) -> str:
    """The accuracy suite (tests/support/transitions.py: one known fade or dissolve per clip, with an
    opening fade-in, a hard cut and a closing fade-out) run by the analysis of `checkout`."""
    folder = OUT / "known"
    folder.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PYTHONPATH": str(checkout)}
    done = subprocess.run(
        [sys.executable, "-c", _ACCURACY, str(ROOT / "tests" / "support" / "transitions.py"), str(folder)],
        capture_output=True, text=True, check=True, env=env, cwd=checkout,
    )
    return done.stdout.strip()


_TIMED_RUN = textwrap.dedent(
    """
    import json, sys, tempfile, time
    from pathlib import Path
    from vidpulse.processing import AnalysisOptions, analyze
    with tempfile.TemporaryDirectory() as out:
        wall, cpu = time.perf_counter(), time.process_time()
        report = analyze(Path(sys.argv[1]), Path(out), AnalysisOptions(render=sys.argv[2] == "1"))
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    print(json.dumps({"frames": report["analysed"]["frames"], "wall": wall, "cpu": cpu}))
    """
)


def timed_in(checkout: Path, path: Path, render: bool) -> Timed:
    """One analysis by the code of `checkout`, in a process of its own (imports not counted)."""
    env = {**os.environ, "PYTHONPATH": str(checkout)}
    done = subprocess.run(
        [sys.executable, "-c", _TIMED_RUN, str(path), "1" if render else "0"],
        capture_output=True, text=True, check=True, env=env, cwd=checkout,
    )
    run = json.loads(done.stdout.strip().splitlines()[-1])
    return Timed(_rate(run["frames"], run["wall"]), 1000 * run["cpu"] / run["frames"])


def render_pairs(path: Path, rounds: int, baseline: Path | None) -> None:
    """Render against decode-only, back to back (and the baseline's render in the same rounds)."""
    kinds = [("this checkout", ROOT)] + ([("baseline", baseline)] if baseline else [])
    ratios: dict[str, list[float]] = {name: [] for name, _ in kinds}
    cpu: dict[str, list[float]] = {name: [] for name, _ in kinds}
    decode_cpu = []
    for _ in range(rounds):
        for name, checkout in kinds:
            ceiling = timed(lambda: decode_only(path))
            run = timed_in(checkout, path, render=True)
            ratios[name].append(run.fps / ceiling.fps)
            cpu[name].append(run.cpu_ms)
            decode_cpu.append(ceiling.cpu_ms)
    print(f"decode-only CPU {min(decode_cpu):.2f} ms/frame (best)")
    for name, values in ratios.items():
        values.sort()
        spread = ", ".join(f"{r:.2f}" for r in values)
        print(f"| analysis + render / decode-only, {name}, median | {values[len(values) // 2]:.2f}x | {spread}; "
              f"CPU {min(cpu[name]):.2f} ms/frame (best) |", flush=True)
def _print_rows(rows: list[tuple[str, str, str]]) -> None:
    print("\n| measurement | value | note |\n|---|---|---|")
    for what, value, note in rows:
        print(f"| {what} | {value} | {note} |")
    print(f"load average after: {os.getloadavg()[0]:.2f}")


def profile(path: Path) -> None:
    import cProfile
    import pstats

    out = Path(tempfile.mkdtemp(prefix="vidpulse-profile-"))
    profiler = cProfile.Profile()
    profiler.runcall(analyze, path, out, AnalysisOptions())
    shutil.rmtree(out, ignore_errors=True)
    pstats.Stats(profiler).sort_stats("tottime").print_stats(15)


if __name__ == "__main__":
    main()
