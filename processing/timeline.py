"""timeline.png: motion and brightness over time, cuts marked, quality segments shaded."""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

from vidpulse.processing.analyzers.cuts import Cut
from vidpulse.processing.analyzers.quality import QualityResult
from vidpulse.processing.series import FrameSeries
from vidpulse.processing.spans import Segment

# More points than pixels only costs time: long videos are reduced to this many buckets.
MAX_POINTS = 3000
_SHADES = (("black", "#444444"), ("frozen", "#4c72b0"), ("blurry", "#dd8452"))


def timeline_png(
    series: FrameSeries, motion: Sequence[float], cuts: Sequence[Cut], quality: QualityResult, end_s: float
) -> bytes:
    # Imported here: matplotlib costs a noticeable start-up that only this artifact needs.
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    times, motion_pts, bright_pts = _reduce(list(series.time_s), list(motion), list(series.brightness))
    figure = Figure(figsize=(10, 3.6), dpi=100)
    axes = figure.add_subplot()
    for name, colour in _SHADES:
        _shade(axes, getattr(quality, name), colour, name)
    axes.plot(times, motion_pts, color="#c44e52", linewidth=1, label="motion (share of pixels moving)")
    axes.plot(times, bright_pts, color="#55a868", linewidth=1, label="brightness")
    for n, cut in enumerate(cuts):
        style = "-" if cut.kind == "hard" else "--"
        label = None if n else "cut (dashed: fade)"
        axes.axvline(cut.time_s, color="#222222", linestyle=style, linewidth=0.8, label=label)
    axes.set_xlim(series.time_s[0] if len(series) else 0.0, max(end_s, 1e-3))
    axes.set_ylim(0, 1.02)
    axes.set_xlabel("time (s)")
    axes.set_ylabel("0 .. 1")
    axes.legend(loc="upper right", fontsize=7, framealpha=0.85)
    # Fixed margins and light PNG compression: tight_layout and zlib's default level were
    # most of this plot's cost.
    figure.subplots_adjust(left=0.06, right=0.99, top=0.97, bottom=0.13)
    out = io.BytesIO()
    figure.savefig(out, format="png", pil_kwargs={"compress_level": 1})
    return out.getvalue()


def _shade(axes: Any, segments: Sequence[Segment], colour: str, name: str) -> None:
    for n, seg in enumerate(segments):
        axes.axvspan(seg.start_s, seg.end_s, color=colour, alpha=0.25, linewidth=0, label=None if n else name)


def _reduce(
    times: list[float], motion: list[float], brightness: list[float]
) -> tuple[list[float], list[float], list[float]]:
    """Bucket long series: the maximum motion (peaks matter) and mean brightness per bucket."""
    n = len(times)
    if n <= MAX_POINTS:
        return times, motion, brightness
    step = n / MAX_POINTS
    out_t, out_m, out_b = [], [], []
    for k in range(MAX_POINTS):
        lo, hi = int(k * step), max(int(k * step) + 1, int((k + 1) * step))
        out_t.append(times[lo])
        out_m.append(max(motion[lo:hi]))
        out_b.append(sum(brightness[lo:hi]) / (hi - lo))
    return out_t, out_m, out_b
