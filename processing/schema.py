"""The typed shape of report.json (and of the options and video info inside it).

`docs/report.schema.json` and the `Report` component of /openapi.json are generated from these
models (`make schemas`);
`write_report` validates every report through `Report` before writing it, so the code cannot drift
from the schema.

To add a report field: add it to the model here (with a `description`), produce it in the
pipeline, then `make schemas`. A field that older reports lack needs a default. The options model is
generated from `AnalysisOptions` (processing/options.py): add an option there, not here.
"""

from __future__ import annotations

import dataclasses
import json
import math
import sys
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue

from vidpulse.processing.options import AnalysisOptions
from vidpulse.processing.schema_base import Closed, Seconds, Span, Unit
from vidpulse.processing.schema_cues import Cue, Qc

REPORT_SCHEMA_VERSION = 1
REPORT_SCHEMA_ID = "https://vidpulse.invalid/report.schema.json"

class VideoInfo(Closed):
    """What the video is, from its header (probed at upload)."""

    width: int = Field(ge=1, description="display width, after rotation")
    height: int = Field(ge=1, description="display height, after rotation")
    fps: float = Field(gt=0)
    frames: int = Field(ge=0, description="the container's count when it has one, else duration x fps")
    duration_s: Seconds
    codec: str = Field(examples=["h264"])
    container: str = Field(examples=["mov,mp4,m4a,3gp,3g2,mj2"])
    rotation: Literal[0, 90, 180, 270] = Field(description="clockwise degrees")


def options_model(source: type[AnalysisOptions] = AnalysisOptions, name: str = "Options") -> type[BaseModel]:
    """`Options`, generated from AnalysisOptions' fields and their `range`/`doc` metadata (or another
    model `name` from a subclass's, such as processing/live's LiveOptions)."""
    fields: dict[str, Any] = {}
    for f in dataclasses.fields(source):
        kind = str(f.type)
        base: Any = {"bool": bool, "int": int, "float": float, "str": str}[kind.replace("| None", "").strip()]
        if "choices" in f.metadata:
            base = Literal[f.metadata["choices"]]
        annotation: Any = base | None if "None" in kind else base
        constraints: dict[str, Any] = {}
        if "range" in f.metadata:
            lo, hi = f.metadata["range"]
            constraints["ge"] = lo
            if hi != math.inf:
                constraints["le"] = hi
        description = f.metadata.get("doc", "also write annotated.mp4 (boxes, scene number and timecode drawn in)")
        if f.name == "end_s":
            # end_s > start_s >= 0: JSON Schema cannot compare two fields, but it can say end_s > 0.
            constraints = {"gt": 0.0}
            description += "; must be greater than start_s (null: to the end)"
        if f.name == "max_frames":
            description += " (null: no limit)"
        if "choices" not in f.metadata:  # a Literal is exact already (and pydantic refuses `strict` on one)
            constraints["strict"] = True
        fields[f.name] = (annotation, Field(default=f.default, description=description, **constraints))
    return create_model(
        name, __config__=ConfigDict(extra="forbid", frozen=True), __doc__=(
            "Analysis options, sent as a JSON object in the `options` form field. Every field is optional; an "
            "unknown field, a wrong type or a value out of range is a 422 whose `field` is `options.NAME`. "
            "Integer options refuse fractional JSON numbers such as 320.0."), **fields)


Options = options_model()


class Analysed(Closed):
    """The span that was analysed (options start_s, end_s, max_frames)."""

    start_frame: int = Field(ge=0)
    end_frame: int = Field(ge=0, description="inclusive")
    frames: int = Field(ge=1)
    start_s: Seconds
    end_s: Seconds = Field(description="exclusive")


class Cut(Closed):
    """A hard cut, or a gradual transition with its span (start and end frames inclusive)."""

    frame: int = Field(ge=1, description="first frame of the new scene")
    time_s: Seconds
    kind: Literal["hard", "fade", "dissolve"] = Field(
        description="fade: through black or white (a fade-out, the blank gap and a fade-in are one transition; "
        "the opening fade-in and the closing fade-out of a video are none); dissolve: a cross-dissolve"
    )
    score: float = Field(
        ge=0,
        description="hard: mean luma difference 0..255 across the cut; fade: brightness x255 of the picture left "
        "or reached (through white: its distance from white); dissolve: mean luma difference between its ends",
    )
    confidence: Unit = Field(description="how clearly the detector's tests were passed (a hard cut: at least 0.5)")
    start_frame: int | None = Field(default=None, ge=0, description="fade and dissolve only: its first frame")
    end_frame: int | None = Field(default=None, ge=0, description="fade and dissolve only: its last frame")
    start_s: float | None = Field(default=None, ge=0, description="fade and dissolve only: time of start_frame")
    end_s: float | None = Field(default=None, ge=0, description="fade and dissolve only: time of end_frame")


class Scene(Closed):
    index: int = Field(ge=0)
    start_frame: int = Field(ge=0)
    end_frame: int = Field(ge=0, description="inclusive")
    start_s: Seconds
    end_s: Seconds = Field(description="exclusive")
    thumbnail: str | None = Field(pattern=r"^scene-[0-9]{3,}\.jpg$", description="an artifact name")


class MotionSegment(Span):
    peak: Unit
    box: list[Unit] = Field(min_length=4, max_length=4,
                            description="union of the moving regions: x, y, width, height as fractions")


class Motion(Closed):
    mean: Unit = Field(description="mean share of pixels that changed between frames")
    segments: list[MotionSegment]


class Brightness(Closed):
    """Of the per-frame mean luma: 0 video black, 1 video white."""

    mean: Unit
    min: Unit
    max: Unit


class Quality(Closed):
    black: list[Span]
    frozen: list[Span]
    blurry: list[Span]
    brightness: Brightness


class Loudness(Closed):
    """EBU R128 / ITU-R BS.1770, by FFmpeg's ebur128 filter."""

    integrated_lufs: float | None = Field(description="integrated loudness; null when nothing passes the -70 LUFS gate")
    range_lu: float = Field(ge=0, description="loudness range (LRA)")
    true_peak_dbtp: float | None = Field(description="true peak (4x oversampled); null for digital silence")


class Clipping(Span):
    samples: int = Field(ge=1, description="clipped samples in the segment, every channel counted")


class Audio(Closed):
    """The first audio stream, measured in the same pass as the video, on the video's clock."""

    codec: str
    channels: int = Field(ge=0)
    sample_rate: int = Field(ge=0)
    loudness: Loudness
    silence: list[Span] = Field(description="below -60 dB for at least 0.5 s")
    clipping: list[Clipping] = Field(
        description="runs of 3 or more samples at full scale on a channel, merged when closer than 50 ms"
    )


class Artifact(Closed):
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    type: str = Field(description="media type",
                      examples=["application/json", "text/csv", "image/jpeg", "image/png", "video/mp4", "text/vtt",
                                "text/plain", "application/vnd.pixar.opentimelineio+json"])
    bytes: int = Field(ge=0)


class Timing(Closed):
    wall_s: Seconds
    fps: float = Field(ge=0)


class Report(Closed):
    """report.json: times in seconds, frames 0-based, segment ends exclusive, scene end_frame inclusive."""

    schema_: Literal[1] = Field(alias="schema", description="version of this report format")
    video: VideoInfo
    analysed: Analysed
    options: Options = Field(description="the options of the run, defaults filled in")  # type: ignore[valid-type]
    cuts: list[Cut]
    scenes: list[Scene] = Field(min_length=1)
    motion: Motion
    quality: Quality
    audio: Audio | None = Field(default=None, description="null when the file has no sound")
    cues: list[Cue] = Field(
        default_factory=list,
        description="every technical cue (black, frozen, blurry, silence and clipping as above, and the cues only "
        "listed here), in order of start",
    )
    qc: Qc | None = Field(default=None, description="the delivery checks of the option qc_profile; null with none")
    artifacts: list[Artifact] = Field(
        description="the files of the session, report.json included: scene-NNN.jpg, contact-sheet.jpg, "
        "frames.csv, timeline.png, chapters.vtt, cues.vtt, scenes.edl, scenes.otio, and annotated.mp4 with render"
    )
    timing: Timing


class CleanSchema(GenerateJsonSchema):
    """JSON Schema without pydantic's generated per-field `title`s (noise in a published document)."""

    def field_title_should_be_set(self, schema: Any) -> bool:
        return False


def report_json_schema() -> dict[str, Any]:
    """The standalone Draft 2020-12 schema of report.json (docs/report.schema.json)."""
    schema: JsonSchemaValue = Report.model_json_schema(by_alias=True, schema_generator=CleanSchema)
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": REPORT_SCHEMA_ID,
            "title": f"Vidpulse analysis report (report.json), schema {REPORT_SCHEMA_VERSION}", **schema}


def main() -> None:
    sys.stdout.write(json.dumps(report_json_schema(), indent=2, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
