"""The scene list in formats other tools open: WebVTT chapters for players, a CMX 3600 EDL and an
OpenTimelineIO timeline for editors.

`chapters.vtt`: one cue per scene (a `<track kind="chapters">` in a browser). `scenes.edl`: one
event per scene, source and record timecodes equal (the file's own timeline), frames at the
nearest whole timebase: a cut, or a dissolve where the scene is entered by a fade or a dissolve.
`scenes.otio`: OpenTimelineIO's JSON, one clip per scene on one video track, at the video's own
rate, with a transition where a fade or a dissolve enters a scene. It is written as plain JSON
in OTIO's documented serialization, so it costs no import (OpenTimelineIO takes about 0.1 s to
load) and no dependency; the tests read it back with OpenTimelineIO itself.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from vidpulse.processing.analyzers.cuts import Cut
from vidpulse.processing.cues import Cue
from vidpulse.processing.overlay import scene_number
from vidpulse.processing.report import Scene

CHAPTERS_NAME = "chapters.vtt"
CUES_NAME = "cues.vtt"
EDL_NAME = "scenes.edl"
OTIO_NAME = "scenes.otio"
OTIO_TYPE = "application/vnd.pixar.opentimelineio+json"
# CMX 3600 reel names are at most 8 characters; AX ("auxiliary") with a clip-name comment is
# what editors write for a file-based source.
_REEL = "AX"
# A dissolve's length field has three digits.
_MAX_TRANSITION = 999


def chapters_vtt(scenes: Sequence[Scene]) -> bytes:
    lines = ["WEBVTT", ""]
    for scene in scenes:
        # A cue must not be empty and end after it starts; chapters of a player cover the video.
        end_s = max(scene.end_s, scene.start_s + 0.001)
        number = scene_number(scene.index)
        lines += [f"scene-{number}", f"{_vtt_time(scene.start_s)} --> {_vtt_time(end_s)}", f"Scene {number}", ""]
    return "\n".join(lines).encode()


def scenes_edl(scenes: Sequence[Scene], cuts: Sequence[Cut], fps: float, title: str) -> bytes:
    """CMX 3600: a header, then one event per scene, its source and record timecodes equal.

    A scene entered by a hard cut is a cut event. One entered by a fade or a dissolve is a
    dissolve event in the standard two-line form: the outgoing clip, zero frames long where the
    transition begins, then the incoming clip with `D` and the transition's length in frames,
    from the transition's first frame to the scene's end. The scene before thus ends where its
    transition begins, as an editor cuts it. A fade through black or white is written as a
    dissolve too (with a comment saying so): CMX 3600 has no fade of its own."""
    base = max(1, round(fps))
    name = _ascii(title)[:64] or "vidpulse"
    lines = [f"TITLE: {name}", "FCM: NON-DROP FRAME", ""]
    entered = _entered(scenes, cuts)
    starts = [_frames(scene.start_s, fps) for scene in scenes]
    for i, cut in enumerate(entered):
        if cut is not None and cut.span is not None:
            # From the transition's first frame, leaving the scene before at least one frame.
            starts[i] = max(starts[i - 1] + 1, min(starts[i], _frames(cut.span[2], fps)))
    ends = _ends(starts, scenes, fps)
    for number, (start, end, cut) in enumerate(zip(starts, ends, entered, strict=True), start=1):
        tc_in, tc_out = _timecode(start, base), _timecode(end, base)
        if cut is not None and cut.span is not None:
            length = max(1, min(_MAX_TRANSITION, end - start, _frames(cut.span[3], fps) + 1 - start))
            lines += [
                f"{number:03d}  {_REEL:<8} V     C        {tc_in} {tc_in} {tc_in} {tc_in}",
                f"{number:03d}  {_REEL:<8} V     D    {length:03d} {tc_in} {tc_out} {tc_in} {tc_out}",
                f"* FROM CLIP NAME: {name}",
                f"* TO CLIP NAME: {name}",
            ]
            if cut.kind == "fade":
                lines.append("* VIDPULSE TRANSITION: FADE")
        else:
            lines.append(f"{number:03d}  {_REEL:<8} V     C        {tc_in} {tc_out} {tc_in} {tc_out}")
            lines.append(f"* FROM CLIP NAME: {name}")
        lines.append("")
    return "\n".join(lines).encode("ascii")


def _ends(starts: list[int], scenes: Sequence[Scene], fps: float) -> list[int]:
    """Each scene's end frame (exclusive): where the next begins, the last at least one frame long."""
    return [*starts[1:], max(starts[-1] + 1, _frames(scenes[-1].end_s, fps))] if scenes else []


def _entered(scenes: Sequence[Scene], cuts: Sequence[Cut]) -> list[Cut | None]:
    """Per scene, the fade or dissolve (with its span) that enters it; None for a hard cut and
    for the first scene."""
    by_frame = {cut.frame: cut for cut in cuts}
    entered: list[Cut | None] = []
    for i, scene in enumerate(scenes):
        cut = by_frame.get(scene.start_frame) if i else None
        entered.append(cut if cut is not None and cut.kind != "hard" and cut.span is not None else None)
    return entered


def scenes_otio(scenes: Sequence[Scene], cuts: Sequence[Cut], fps: float, title: str) -> bytes:
    """An OpenTimelineIO timeline: one clip per scene referencing `title` (the source file's name,
    relative to wherever the timeline is opened), its frames on the file's own timeline. A fade
    or dissolve is a transition at the cut, overlapping the scene before by as many frames as it
    began before the cut and the scene after by the rest (a fade through black or white is
    written as a dissolve, its kind in the transition's metadata)."""
    starts = [_frames(scene.start_s, fps) for scene in scenes]
    ends = _ends(starts, scenes, fps)
    media = {
        "OTIO_SCHEMA": "ExternalReference.1",
        "metadata": {},
        "name": "",
        "available_range": _otio_range(starts[0], ends[-1], fps) if scenes else None,
        "available_image_bounds": None,
        "target_url": title,
    }
    children: list[dict[str, Any]] = []
    for i, (scene, cut) in enumerate(zip(scenes, _entered(scenes, cuts), strict=True)):
        if cut is not None and cut.span is not None:
            before = min(starts[i] - _frames(cut.span[2], fps), starts[i] - starts[i - 1])
            after = min(_frames(cut.span[3], fps) + 1 - starts[i], ends[i] - starts[i])
            children.append(_otio_transition(cut.kind, max(0, before), max(0, after), fps))
        metadata = {"vidpulse": {"scene": scene.index, "thumbnail": scene.thumbnail}}
        name = f"Scene {scene_number(scene.index)}"
        clip = _otio_item("Clip.2", name, metadata, _otio_range(starts[i], ends[i], fps))
        clip.update(media_references={"DEFAULT_MEDIA": media}, active_media_reference_key="DEFAULT_MEDIA")
        children.append(clip)
    track = _otio_item("Track.1", "V1", {}, None) | {"children": children, "kind": "Video"}
    stack = _otio_item("Stack.1", "tracks", {}, None) | {"children": [track]}
    timeline = {"OTIO_SCHEMA": "Timeline.1", "metadata": {}, "name": title, "global_start_time": None, "tracks": stack}
    return json.dumps(timeline, indent=2).encode()


def _otio_item(schema: str, name: str, metadata: dict[str, Any], source_range: dict[str, Any] | None) -> dict[str, Any]:
    return {
        "OTIO_SCHEMA": schema,
        "metadata": metadata,
        "name": name,
        "source_range": source_range,
        "effects": [],
        "markers": [],
        "enabled": True,
    }


def _otio_transition(kind: str, before: int, after: int, fps: float) -> dict[str, Any]:
    return {
        "OTIO_SCHEMA": "Transition.1",
        "metadata": {"vidpulse": {"kind": kind}},
        "name": kind.capitalize(),
        "in_offset": _otio_time(before, fps),
        "out_offset": _otio_time(after, fps),
        "transition_type": "SMPTE_Dissolve",
    }


def _otio_range(start: int, end: int, fps: float) -> dict[str, Any]:
    duration, start_time = _otio_time(end - start, fps), _otio_time(start, fps)
    return {"OTIO_SCHEMA": "TimeRange.1", "duration": duration, "start_time": start_time}


def _otio_time(frames: int, fps: float) -> dict[str, Any]:
    return {"OTIO_SCHEMA": "RationalTime.1", "rate": float(fps), "value": float(frames)}


def _frames(seconds: float, fps: float) -> int:
    return max(0, round(seconds * fps))


def _timecode(frames: int, base: int) -> str:
    seconds, ff = divmod(frames, base)
    minutes, ss = divmod(seconds, 60)
    hh, mm = divmod(minutes, 60)
    return f"{hh % 24:02d}:{mm:02d}:{ss:02d}:{ff:02d}"


def cues_vtt(cues: Sequence[Cue]) -> bytes:
    """WebVTT metadata (a `<track kind="metadata">`): one cue per technical cue, in the report's order,
    its payload the report's cue as one line of JSON."""
    lines = ["WEBVTT", "", "NOTE Technical cues of vidpulse: each payload is a cue of report.json's cues.", ""]
    for number, cue in enumerate(cues, start=1):
        # A cue must end after it starts; "-->" may not appear in a payload (JSON only has it inside strings).
        end_s = max(cue.end_s, cue.start_s + 0.001)
        payload = json.dumps(cue.to_dict(), ensure_ascii=False, separators=(",", ":")).replace("-->", "--\\u003e")
        lines += [f"{cue.type}-{number}", f"{_vtt_time(cue.start_s)} --> {_vtt_time(end_s)}", payload, ""]
    return "\n".join(lines).encode()


def _vtt_time(seconds: float) -> str:
    millis = max(0, round(seconds * 1000))
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    return f"{hours:02d}:{minutes:02d}:{rest // 1000:02d}.{rest % 1000:03d}"


def _ascii(text: str) -> str:
    """EDL readers expect plain ASCII on a line of its own."""
    return "".join(c if 32 <= ord(c) < 127 else "_" for c in text).strip()
