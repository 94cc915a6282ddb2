"""Analysis options: one frozen dataclass, validated from untrusted JSON by `from_mapping`."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Self

from vidpulse.processing.errors import OptionsError

_NO_LIMIT = math.inf
# The delivery profiles report.qc checks against (processing/qc.py); none: no checks.
QC_PROFILES = ("none", "ebu_r128", "atsc_a85", "streaming", "broadcast_hd")


def _opt(default: Any, lo: float, hi: float, doc: str) -> Any:
    return field(default=default, metadata={"range": (lo, hi), "doc": doc})


def _choice(default: str, choices: tuple[str, ...], doc: str) -> Any:
    return field(default=default, metadata={"choices": choices, "doc": doc})


@dataclass(frozen=True)
class AnalysisOptions:
    """What to analyse and how. Every field has a default; `from_mapping` validates untrusted input.

    - render: also write `annotated.mp4` (boxes, scene number, timecode drawn in).
    - width: analysis width in pixels (64..1920); frames are downscaled to it (never upscaled).
    - cut_threshold: mean luma difference (0..255) between consecutive frames that a hard cut needs.
    - cut_ratio: how many times a hard cut's difference must exceed that of its neighbours (2 frames
      each side); this is what keeps fast pans and large moving objects from counting as cuts.
    - fade_threshold: brightness (0..1) the picture must have next to a black span for the gradual
      edge of that span to count as a fade. (Cross-dissolves need half of `cut_threshold` between
      the ends of a 0.4 s or 1 s window.)
    - black_threshold: luma (0..1) under which a pixel counts as dark; a frame is black when at
      least 98 % of its pixels are dark.
    - black_min_s: shortest black segment reported, in seconds.
    - freeze_threshold: a frame is frozen when less than this fraction (0..1) of its pixels changed
      and its mean luma difference to the previous frame is under this fraction of full scale.
    - freeze_min_s: shortest frozen segment reported, in seconds.
    - blur_threshold: a frame is blurry when the variance of its Laplacian (at half the analysis
      width) is below this.
    - blur_min_s: shortest blurry segment reported, in seconds.
    - motion_threshold: a frame is moving when at least this fraction (0..1) of its pixels changed.
    - motion_min_s: shortest motion segment reported, in seconds.
    - max_frames: stop after this many frames (None: no limit).
    - start_s, end_s: analyse only [start_s, end_s) of the video (end_s None: to the end).
    - qc_profile: check the file against a delivery profile (report.qc; processing/qc.py), one of
      QC_PROFILES; none: no checks.
    """

    render: bool = False
    width: int = _opt(320, 64, 1920, "analysis width in pixels")
    cut_threshold: float = _opt(20.0, 1.0, 255.0, "mean luma difference of a hard cut")
    cut_ratio: float = _opt(3.0, 1.0, 100.0, "hard cut difference over its neighbours'")
    fade_threshold: float = _opt(0.12, 0.0, 1.0, "brightness next to a black span for a fade")
    black_threshold: float = _opt(0.10, 0.0, 1.0, "luma under which a pixel is dark")
    black_min_s: float = _opt(0.2, 0.0, _NO_LIMIT, "shortest black segment in seconds")
    freeze_threshold: float = _opt(0.002, 0.0, 1.0, "fraction of changed pixels under which a frame is frozen")
    freeze_min_s: float = _opt(0.5, 0.0, _NO_LIMIT, "shortest frozen segment in seconds")
    blur_threshold: float = _opt(20.0, 0.0, _NO_LIMIT, "Laplacian variance under which a frame is blurry")
    blur_min_s: float = _opt(0.5, 0.0, _NO_LIMIT, "shortest blurry segment in seconds")
    motion_threshold: float = _opt(0.02, 0.0, 1.0, "fraction of changed pixels for motion")
    motion_min_s: float = _opt(0.3, 0.0, _NO_LIMIT, "shortest motion segment in seconds")
    max_frames: int | None = _opt(None, 1, _NO_LIMIT, "stop after this many frames")
    start_s: float = _opt(0.0, 0.0, _NO_LIMIT, "start of the analysed span in seconds")
    end_s: float | None = _opt(None, 0.0, _NO_LIMIT, "end of the analysed span in seconds")
    qc_profile: str = _choice("none", QC_PROFILES, "delivery profile to check the file against (report.qc)")

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            _check(f, getattr(self, f.name))
        if self.end_s is not None and self.end_s <= self.start_s:
            raise OptionsError("end_s", f"end_s ({self.end_s}) must be greater than start_s ({self.start_s}).")

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> Self:
        """Build options from untrusted JSON; raises OptionsError naming the first bad field."""
        if not isinstance(data, Mapping):
            raise OptionsError("options", "The options must be a JSON object.")
        known = {f.name for f in dataclasses.fields(cls)}
        for name in data:
            if name not in known:
                raise OptionsError(str(name), f"Unknown option {name!r}; known options: {', '.join(sorted(known))}.")
        return cls(**dict(data))

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _check(f: dataclasses.Field[Any], value: Any) -> None:
    kind = str(f.type)
    if value is None:
        if "None" not in kind:
            raise OptionsError(f.name, f"{f.name} must not be null.")
        return
    # bool is a subclass of int in Python, but `true` is never a valid width in JSON.
    if kind == "bool":
        if not isinstance(value, bool):
            raise OptionsError(f.name, f"{f.name} must be true or false, not {value!r}.")
        return
    if kind == "str":
        choices = f.metadata["choices"]
        if not isinstance(value, str) or value not in choices:
            raise OptionsError(f.name, f"{f.name} must be one of {', '.join(choices)}, not {value!r}.")
        return
    if kind.startswith("int"):
        if isinstance(value, bool) or not isinstance(value, int):
            raise OptionsError(f.name, f"{f.name} must be an integer, not {value!r}.")
    elif isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise OptionsError(f.name, f"{f.name} must be a finite number, not {value!r}.")
    lo, hi = f.metadata["range"]
    if not lo <= value <= hi:
        upper = "" if hi == _NO_LIMIT else f" and at most {hi:g}"
        raise OptionsError(f.name, f"{f.name} must be at least {lo:g}{upper}, not {value!r}.")
