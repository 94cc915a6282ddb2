"""report.json (versioned schema, see docs/report.schema.json) and frames.csv."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from typing import Any

from vidpulse.processing.analyzers.cuts import Cut
from vidpulse.processing.artifacts import Artifacts
from vidpulse.processing.schema import Report
from vidpulse.processing.series import FrameSeries

REPORT_NAME = "report.json"
CSV_NAME = "frames.csv"
CSV_HEADER = ("frame", "time_s", "motion", "brightness", "sharpness", "cut_score", "loudness_lufs")


@dataclass(frozen=True, slots=True)
class Scene:
    """Frames [start_frame, end_frame] (end inclusive); times [start_s, end_s) (end exclusive)."""

    index: int
    start_frame: int
    end_frame: int
    start_s: float
    end_s: float
    thumbnail: str | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "start_frame": self.start_frame,
            "end_frame": self.end_frame,
            "start_s": round(self.start_s, 6),
            "end_s": round(self.end_s, 6),
            "thumbnail": self.thumbnail,
        }


def scenes_of(cuts: list[Cut], series: FrameSeries, fps: float, thumbnails: list[str]) -> list[Scene]:
    """The scenes between cuts, covering every analysed frame."""
    if not len(series):
        return []
    starts = [(series.index[0], series.time_s[0]), *((c.frame, c.time_s) for c in cuts)]
    ends = [(c.frame - 1, c.time_s) for c in cuts] + [(series.index[-1], series.end_s(fps))]
    return [
        Scene(i, start[0], end[0], start[1], end[1], thumbnails[i] if i < len(thumbnails) else None)
        for i, (start, end) in enumerate(zip(starts, ends, strict=True))
    ]


def frames_csv(series: FrameSeries, loudness: list[float | None] | None = None) -> bytes:
    """One row per frame; `loudness_lufs` is the short-term loudness at the frame's time (empty
    without sound or before the first 3 s window)."""
    out = io.StringIO()
    out.write(",".join(CSV_HEADER) + "\n")
    for i in range(len(series)):
        lufs = loudness[i] if loudness is not None else None
        out.write(
            f"{series.index[i]},{series.time_s[i]:.6f},{series.motion[i]:.6f},"
            f"{series.brightness[i]:.6f},{series.sharpness[i]:.3f},{series.difference[i]:.3f},"
            f"{'' if lufs is None else f'{lufs:.2f}'}\n"
        )
    return out.getvalue().encode()


def write_report(report: dict[str, Any], artifacts: Artifacts, model: type[Report] = Report) -> dict[str, Any]:
    """Write report.json, listing every artifact including report.json itself with its exact size.
    `model`: the report's model (a live session's report has more fields).

    The report's own size depends on the digits of that size: iterate until it is stable (it
    settles in two or three rounds).
    """
    size = 0
    for _ in range(8):
        listed = [a.to_dict() for a in artifacts.listing() if a.name != REPORT_NAME]
        listed.append({"name": REPORT_NAME, "type": "application/json", "bytes": size})
        # Through the model: a report that drifts from docs/report.schema.json fails here, not in a client.
        # Unset fields stay out: a hard cut has no span fields rather than nulls.
        validated = model.model_validate({**report, "artifacts": listed})
        data = _encode(validated.model_dump(mode="json", by_alias=True, exclude_unset=True))
        if len(data) == size:
            break
        size = len(data)
    artifacts.write_bytes(REPORT_NAME, "application/json", data)
    return json.loads(data)


def _encode(report: dict[str, Any]) -> bytes:
    return (json.dumps(report, indent=2, ensure_ascii=False, allow_nan=False) + "\n").encode()
