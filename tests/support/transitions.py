"""Clips with known transitions, and a scorer of found cuts against them (the accuracy suite).

Each clip: an opening fade-in from black (not a transition), shot A, the transition under test,
shot B, a hard cut, shot C, a closing fade-out to black (not a transition). The pictures are
smooth textures drifting slowly, as a camera would see, or a dark, sparse picture (a few light
shapes on black) for the dissolves that the old detector missed. Used by
tests/processing/test_transitions.py and by bench/analysis.py (accuracy tables).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from tests.support.videogen import write_frames

FPS = 25
SIZE = (320, 240)
SHAPES = ("fade-black", "fade-black-nogap", "fade-white", "dissolve", "dissolve-to-dark", "dissolve-from-dark")
DURATIONS_S = (0.5, 1.0, 2.0)
# Tolerance on a transition's span ends, in frames and as a share of its length: near-black
# frames read as black, and a dissolve's first and last frames hold only a few percent of the
# other picture.
SPAN_TOLERANCE = 4
SPAN_TOLERANCE_SHARE = 0.1

Picture = Callable[[int], np.ndarray]


@dataclass(frozen=True)
class Transition:
    start_frame: int  # first frame that is part of it
    end_frame: int  # last frame that is part of it
    kind: str  # fade or dissolve


@dataclass(frozen=True)
class KnownClip:
    shape: str
    seconds: float
    path: Path
    transition: Transition
    hard_cut: int
    frames: int


def _texture(seed: int) -> np.ndarray:
    width, height = SIZE
    rng = np.random.default_rng(seed)
    small = rng.integers(20, 236, size=(height // 24 + 4, width // 24 + 8, 3), dtype=np.uint8)
    big = cv2.resize(small, (small.shape[1] * 24, small.shape[0] * 24), interpolation=cv2.INTER_NEAREST)
    return np.ascontiguousarray(cv2.GaussianBlur(big, (0, 0), 3))


def _drifting(seed: int) -> Picture:
    """A smooth picture panning one pixel every other frame."""
    texture = _texture(seed)
    width, height = SIZE

    def at(i: int) -> np.ndarray:
        x = (i // 2) % (texture.shape[1] - width)
        return np.ascontiguousarray(texture[:height, x : x + width])

    return at


def _sparse(seed: int) -> Picture:
    """Night sky: a dark ground with a few light shapes (about 5 % of the picture) drifting."""
    width, height = SIZE
    rng = np.random.default_rng(seed)
    shapes = [(int(rng.integers(0, width)), int(rng.integers(0, height)), int(rng.integers(6, 14))) for _ in range(14)]

    def at(i: int) -> np.ndarray:
        frame = np.full((height, width, 3), 14, np.uint8)
        for x, y, r in shapes:
            cv2.circle(frame, ((x + i // 2) % width, y), r, (230, 225, 210), -1, cv2.LINE_AA)
        return frame

    return at


def _blend(a: np.ndarray, b: np.ndarray, t: float) -> np.ndarray:
    return cv2.addWeighted(a, 1.0 - t, b, t, 0)


class _Builder:
    def __init__(self) -> None:
        self.frames: list[Callable[[], np.ndarray]] = []

    @property
    def count(self) -> int:
        return len(self.frames)

    def shot(self, picture: Picture, n: int, offset: int = 0) -> None:
        for i in range(n):
            self.frames.append(lambda i=i: picture(offset + i))

    def fade(self, picture: Picture, n: int, offset: int, flat: np.ndarray, out: bool) -> None:
        """n frames from the picture to `flat` (out) or back; the out fade ends on `flat`."""
        for i in range(n):
            t = (i + 1) / n if out else 1 - (i + 1) / (n + 1)
            self.frames.append(lambda i=i, t=t: _blend(picture(offset + i), flat, t))

    def dissolve(self, a: Picture, b: Picture, n: int, offset_a: int) -> None:
        for i in range(n):
            t = (i + 1) / (n + 1)
            self.frames.append(lambda i=i, t=t: _blend(a(offset_a + i), b(i), t))

    def __iter__(self) -> Iterator[np.ndarray]:
        for make in self.frames:
            yield cv2.cvtColor(make(), cv2.COLOR_BGR2RGB)


def make_known_clip(folder: Path, shape: str, seconds: float) -> KnownClip:
    """Write the clip of `shape` with its transition `seconds` long (each fade, for the fades)."""
    width, height = SIZE
    black = np.zeros((height, width, 3), np.uint8)
    white = np.full((height, width, 3), 255, np.uint8)
    n = round(seconds * FPS)
    shot = round(1.5 * FPS)
    a = _sparse(1) if shape == "dissolve-from-dark" else _drifting(1)
    b = _sparse(2) if shape == "dissolve-to-dark" else _drifting(2)
    c = _drifting(3)
    clip = _Builder()
    clip.fade(a, 12, 0, black, out=False)  # the opening fade-in
    clip.shot(a, shot, 12)
    start = clip.count
    if shape.startswith("fade"):
        flat = white if shape == "fade-white" else black
        clip.fade(a, n, 12 + shot, flat, out=True)
        if shape != "fade-black-nogap":
            clip.shot(lambda i: flat, 10)
        clip.fade(b, n, 0, flat, out=False)
        kind, offset_b = "fade", n
    else:
        clip.dissolve(a, b, n, 12 + shot)
        kind, offset_b = "dissolve", n
    transition = Transition(start, clip.count - 1, kind)
    clip.shot(b, shot, offset_b)
    hard_cut = clip.count
    clip.shot(c, round(1.0 * FPS))
    clip.fade(c, 12, round(1.0 * FPS), black, out=True)  # the closing fade-out
    clip.shot(lambda i: black, 5)
    path = folder / f"{shape}-{seconds:g}s.mp4"
    if not path.exists():
        write_frames(path, iter(clip), fps=FPS, size=SIZE)
    return KnownClip(shape, seconds, path, transition, hard_cut, clip.count)


@dataclass(frozen=True)
class Score:
    found: bool  # the transition was found, once
    kind_ok: bool
    span_error: int | None  # frames: the larger of the errors at either end (None: no span)
    hard_exact: bool
    false_cuts: int

    span_tolerance: int

    @property
    def ok(self) -> bool:
        error = self.span_error
        return (
            self.found
            and self.kind_ok
            and self.hard_exact
            and not self.false_cuts
            and (error is not None and error <= self.span_tolerance)
        )


def score(clip: KnownClip, cuts: list[dict[str, Any]]) -> Score:
    """A cut matches the transition when its frame lies in the transition's span (2 frames of
    slack); every other cut but the exact hard cut is false."""
    t = clip.transition
    inside = [c for c in cuts if t.start_frame - 2 <= c["frame"] <= t.end_frame + 2 and c["frame"] != clip.hard_cut]
    hard = [c for c in cuts if c["frame"] == clip.hard_cut and c["kind"] == "hard"]
    matched = inside[0] if inside else None
    error = None
    if matched is not None and "start_frame" in matched:
        error = max(abs(matched["start_frame"] - t.start_frame), abs(matched["end_frame"] - t.end_frame))
    # A transition reported twice counts once, the other reports as false cuts.
    false_cuts = len(cuts) - (1 if matched else 0) - (1 if hard else 0)
    return Score(
        found=matched is not None,
        kind_ok=matched is not None and matched["kind"] == t.kind,
        span_error=error,
        hard_exact=bool(hard),
        false_cuts=false_cuts,
        span_tolerance=max(SPAN_TOLERANCE, round(SPAN_TOLERANCE_SHARE * (t.end_frame - t.start_frame + 1))),
    )


def table(rows: list[tuple[KnownClip, Score]]) -> str:
    """A Markdown table of scores, and a total line."""
    lines = [
        "| shape | length | found | kind | span error (frames) | hard cut exact | false cuts |",
        "|---|---|---|---|---|---|---|",
    ]
    for clip, s in rows:
        error = "n/a" if s.span_error is None else str(s.span_error)
        lines.append(
            f"| {clip.shape} | {clip.seconds:g} s | {'yes' if s.found else 'no'} | "
            f"{'yes' if s.kind_ok else 'no'} | {error} | {'yes' if s.hard_exact else 'no'} | {s.false_cuts} |"
        )
    good = sum(1 for _, s in rows if s.ok)
    found = sum(1 for _, s in rows if s.found)
    false = sum(s.false_cuts for _, s in rows)
    lines.append(f"| **all** | | {found}/{len(rows)} | | | | {false} |")
    lines.append(
        f"\n{good}/{len(rows)} clips fully right (found once, kind, span ends within {SPAN_TOLERANCE} frames or "
        f"{SPAN_TOLERANCE_SHARE:.0%} of its length, hard cut exact, no false cut)."
    )
    return "\n".join(lines)


def make_partial_fades_clip(folder: Path) -> KnownClip:
    """A clip that opens half way into a fade-in and ends half way into a fade-out (never
    reaching black), with a hard cut between: only the hard cut is a transition."""
    black = np.zeros((SIZE[1], SIZE[0], 3), np.uint8)
    a, c = _drifting(4), _drifting(5)
    clip = _Builder()
    for i in range(25):  # from 35 % to full light
        t = 0.65 * (1 - (i + 1) / 25)
        clip.frames.append(lambda i=i, t=t: _blend(a(i), black, t))
    clip.shot(a, 30, 25)
    hard_cut = clip.count
    clip.shot(c, 30)
    for i in range(25):  # down to 35 %
        t = 0.65 * (i + 1) / 25
        clip.frames.append(lambda i=i, t=t: _blend(c(30 + i), black, t))
    path = folder / "partial-fades.mp4"
    if not path.exists():
        write_frames(path, iter(clip), fps=FPS, size=SIZE)
    return KnownClip("partial-fades", 1.0, path, Transition(0, 0, "none"), hard_cut, clip.count)


RAMP_FRAMES = 42


def make_ramps_clip(folder: Path) -> tuple[Path, list[int]]:
    """A flat picture whose level swings black -> white -> black ... three times and ends on
    black, RAMP_FRAMES a ramp (PySceneDetect's `fades.mp4` made again): the white peaks are the
    pictures; returns the clip and the frames of its black turning points between them, each a
    fade through black (the first black is the opening, the last the closing fade-out)."""
    width, height = SIZE
    levels = [abs((i % (2 * RAMP_FRAMES)) - RAMP_FRAMES) for i in range(6 * RAMP_FRAMES + 1)]
    frames = (np.full((height, width, 3), round(255 * (1 - level / RAMP_FRAMES)), np.uint8) for level in levels)
    path = folder / "ramps.mp4"
    if not path.exists():
        write_frames(path, frames, fps=FPS, size=SIZE)
    return path, [2 * RAMP_FRAMES, 4 * RAMP_FRAMES]
