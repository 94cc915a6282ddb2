"""The typed shape of report.cues (technical cues) and report.qc (a delivery profile's verdict).

Every cue has the same five fields; `detail` is typed per cue type (a discriminated union on
`type`), so a client knows what each kind of cue tells beyond its span.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import Field

from vidpulse.processing.schema_base import Closed, Span, Unit

QC_PROFILES = ("none", "ebu_r128", "atsc_a85", "streaming", "broadcast_hd")


class QcCheckId(StrEnum):
    """The checks of the delivery profiles (processing/qc.py)."""

    INTEGRATED_LOUDNESS = "integrated_loudness"
    TRUE_PEAK = "true_peak"
    OUT_OF_RANGE = "out_of_range"
    INTERLACE_FLAG = "interlace_flag"
    COLOR_BARS = "color_bars"
    BLACK = "black"


class NoDetail(Closed):
    """Nothing beyond the span."""


class ClippingDetail(Closed):
    samples: int = Field(ge=1, description="clipped samples in the span, every channel counted")


class ColorBarsDetail(Closed):
    pattern: Literal["smpte", "smpte_hd", "ebu", "bars"] = Field(
        description="smpte: SMPTE EG 1 bars over the castellations; smpte_hd: SMPTE RP 219 (grey side panels); "
        "ebu: full-height bars (EBU); bars: another static pattern of vertical colour bands"
    )
    bands: int = Field(ge=2, description="vertical bands across the top of the picture")
    amplitude_percent: Literal[75, 100] | None = Field(description="the colour bars' level, when it is 75 % or 100 %")


class InterlacedDetail(Closed):
    field_order: Literal["tff", "bff"] = Field(description="of the combing, as FFmpeg's idet sees it")
    flagged: Literal["progressive", "tff", "bff", "interlaced", "unknown"] = Field(
        description="what the stream says of itself (its field order, or its frames' interlaced flag)"
    )
    flag_disagrees: bool = Field(description="the stream's flag says progressive, or the other field order")


class Rect(Closed):
    """A rectangle in display pixels (the video's width and height as reported)."""

    x: int = Field(ge=0)
    y: int = Field(ge=0)
    width: int = Field(ge=1)
    height: int = Field(ge=1)


class BoxDetail(Closed):
    active: Rect = Field(description="the active picture: what is not a black bar")
    aspect: float = Field(gt=0, description="the active picture's aspect ratio (width over height)")


class OutOfRangeDetail(Closed):
    luma_share: Unit = Field(description="largest share of luma samples outside 16-235 on one frame")
    chroma_share: Unit = Field(description="largest share of chroma samples outside 16-240 on one frame")
    luma_min: int = Field(ge=0, le=255)
    luma_max: int = Field(ge=0, le=255)
    chroma_min: int = Field(ge=0, le=255)
    chroma_max: int = Field(ge=0, le=255)


class AudioPhaseDetail(Closed):
    correlation: float = Field(ge=-1, le=1, description="lowest left/right correlation over 50 ms windows")
    channels: list[str] = Field(min_length=2, max_length=2, examples=[["FL", "FR"]])


class ChannelSilentDetail(Closed):
    channel: int = Field(ge=0, description="0-based index in the stream's layout")
    name: str = Field(examples=["FR"])


class LoudnessDetail(Closed):
    short_term_lufs: float = Field(description="the short-term loudness furthest outside the range")
    low: float = Field(description="the profile's range, LUFS")
    high: float


class _Cue(Span):
    confidence: Unit = Field(description="how clearly the detector's tests were passed")


class BlackCue(_Cue):
    type: Literal["black"]
    detail: NoDetail


class FrozenCue(_Cue):
    type: Literal["frozen"]
    detail: NoDetail


class BlurryCue(_Cue):
    type: Literal["blurry"]
    detail: NoDetail


class SilenceCue(_Cue):
    type: Literal["silence"]
    detail: NoDetail


class ClippingCue(_Cue):
    type: Literal["clipping"]
    detail: ClippingDetail


class ColorBarsCue(_Cue):
    type: Literal["color_bars"]
    detail: ColorBarsDetail


class InterlacedCue(_Cue):
    type: Literal["interlaced"]
    detail: InterlacedDetail


class LetterboxCue(_Cue):
    type: Literal["letterbox", "pillarbox"]
    detail: BoxDetail


class OutOfRangeCue(_Cue):
    type: Literal["out_of_range"]
    detail: OutOfRangeDetail


class AudioPhaseCue(_Cue):
    type: Literal["audio_phase"]
    detail: AudioPhaseDetail


class ChannelSilentCue(_Cue):
    type: Literal["channel_silent"]
    detail: ChannelSilentDetail


class LoudnessCue(_Cue):
    type: Literal["loudness"]
    detail: LoudnessDetail


Cue = Annotated[
    BlackCue | FrozenCue | BlurryCue | SilenceCue | ClippingCue | ColorBarsCue | InterlacedCue | LetterboxCue
    | OutOfRangeCue | AudioPhaseCue | ChannelSilentCue | LoudnessCue,
    Field(discriminator="type"),
]


class QcCheck(Closed):
    id: QcCheckId
    passed: bool
    value: float | str | None = Field(description="what was measured (null: nothing to measure)")
    limit: float | list[float] | str = Field(description="a maximum, a [low, high] range, or a rule")
    segments: list[Span] = Field(description="where the check fails, when it fails at places")


class Qc(Closed):
    """The verdict of the option qc_profile's delivery checks."""

    profile: Literal["ebu_r128", "atsc_a85", "streaming", "broadcast_hd"]
    passed: bool = Field(description="every check passed")
    checks: list[QcCheck]


class QcDetail(Closed):
    """A failing check while it fails (a live session's `qc` incident)."""

    value: float | str | None = Field(description="what was measured so far: the short-term loudness furthest "
                                      "out (integrated_loudness), the highest true peak, the largest share out of "
                                      "range, the field order found (interlace_flag), the seconds so far (color_bars, "
                                      "black)")
    limit: float | list[float] | str = Field(description="as the check's `limit` in report.qc")


# What a live incident tells beyond its span: its cue type's detail, or a failing check's.
IncidentDetail = (ColorBarsDetail | InterlacedDetail | BoxDetail | OutOfRangeDetail | AudioPhaseDetail
                  | ChannelSilentDetail | LoudnessDetail | ClippingDetail | QcDetail)
