"""The scene list in formats other tools open: WebVTT chapters for players, a CMX 3600 EDL for
editors.

`chapters.vtt`: one cue per scene (a `<track kind="chapters">` in a browser). `scenes.edl`: one
cut event per scene, source and record timecodes equal (the file's own timeline), frames at the
nearest whole timebase; gradual transitions are noted in comments, which CMX 3600 readers skip.
"""

from __future__ import annotations

from collections.abc import Sequence

from vidpulse.processing.analyzers.cuts import Cut
from vidpulse.processing.report import Scene

CHAPTERS_NAME = "chapters.vtt"
EDL_NAME = "scenes.edl"
# CMX 3600 reel names are at most 8 characters; AX ("auxiliary") with a clip-name comment is
# what editors write for a file-based source.
_REEL = "AX"


def chapters_vtt(scenes: Sequence[Scene]) -> bytes:
    lines = ["WEBVTT", ""]
    for scene in scenes:
        # A cue must not be empty and end after it starts; chapters of a player cover the video.
        end_s = max(scene.end_s, scene.start_s + 0.001)
        lines += [
            f"scene-{scene.index}",
            f"{_vtt_time(scene.start_s)} --> {_vtt_time(end_s)}",
            f"Scene {scene.index + 1}",
            "",
        ]
    return "\n".join(lines).encode()


def scenes_edl(scenes: Sequence[Scene], cuts: Sequence[Cut], fps: float, title: str) -> bytes:
    """CMX 3600: a header, then per scene an event line and a FROM CLIP NAME comment."""
    base = max(1, round(fps))
    name = _ascii(title)[:64] or "vidpulse"
    lines = [f"TITLE: {name}", "FCM: NON-DROP FRAME", ""]
    by_frame = {cut.frame: cut for cut in cuts}
    for number, scene in enumerate(scenes, start=1):
        start = _frames(scene.start_s, fps)
        end = max(start + 1, _frames(scene.end_s, fps))
        tc_in, tc_out = _timecode(start, base), _timecode(end, base)
        lines.append(f"{number:03d}  {_REEL:<8} V     C        {tc_in} {tc_out} {tc_in} {tc_out}")
        lines.append(f"* FROM CLIP NAME: {name}")
        cut = by_frame.get(scene.start_frame)
        if cut is not None and cut.kind != "hard" and cut.span is not None:
            length = cut.span[1] - cut.span[0] + 1
            lines.append(f"* VIDPULSE TRANSITION: {cut.kind.upper()} {length} FRAMES")
        lines.append("")
    return "\n".join(lines).encode("ascii")


def _frames(seconds: float, fps: float) -> int:
    return max(0, round(seconds * fps))


def _timecode(frames: int, base: int) -> str:
    seconds, ff = divmod(frames, base)
    minutes, ss = divmod(seconds, 60)
    hh, mm = divmod(minutes, 60)
    return f"{hh % 24:02d}:{mm:02d}:{ss:02d}:{ff:02d}"


def _vtt_time(seconds: float) -> str:
    millis = max(0, round(seconds * 1000))
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    return f"{hours:02d}:{minutes:02d}:{rest // 1000:02d}.{rest % 1000:03d}"


def _ascii(text: str) -> str:
    """EDL readers expect plain ASCII on a line of its own."""
    return "".join(c if 32 <= ord(c) < 127 else "_" for c in text).strip()
