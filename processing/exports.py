"""The scene list in formats other tools open: WebVTT chapters for players, a CMX 3600 EDL for
editors.

`chapters.vtt`: one cue per scene (a `<track kind="chapters">` in a browser). `scenes.edl`: one
event per scene, source and record timecodes equal (the file's own timeline), frames at the
nearest whole timebase: a cut, or a dissolve where the scene is entered by a fade or a dissolve.
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
# A dissolve's length field has three digits.
_MAX_TRANSITION = 999


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
    by_frame = {cut.frame: cut for cut in cuts}
    entered = [_gradual(by_frame.get(scene.start_frame)) if i else None for i, scene in enumerate(scenes)]
    starts = [_frames(scene.start_s, fps) for scene in scenes]
    for i, cut in enumerate(entered):
        if cut is not None and cut.span is not None:
            # From the transition's first frame, leaving the scene before at least one frame.
            starts[i] = max(starts[i - 1] + 1, min(starts[i], _frames(cut.span[2], fps)))
    ends = [*starts[1:], max(starts[-1] + 1, _frames(scenes[-1].end_s, fps))] if scenes else []
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


def _gradual(cut: Cut | None) -> Cut | None:
    """The cut if it is a fade or a dissolve with its span, else None."""
    return cut if cut is not None and cut.kind != "hard" and cut.span is not None else None


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
