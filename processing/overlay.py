"""Text drawn onto pictures (thumbnails, the annotated video): white on a dark outline, and the
scene numbers people read there."""

from __future__ import annotations

import cv2
import numpy as np

_FONT = cv2.FONT_HERSHEY_SIMPLEX


def draw_label(image: np.ndarray, text: str, origin: tuple[int, int], scale: float) -> None:
    """Readable on any background: a thick dark stroke under a thin white one."""
    thickness = max(1, round(scale * 1.5))
    cv2.putText(image, text, origin, _FONT, scale, (0, 0, 0), thickness + 2, cv2.LINE_AA)
    cv2.putText(image, text, origin, _FONT, scale, (255, 255, 255), thickness, cv2.LINE_AA)


def scene_number(index: int) -> int:
    """The number a person reads for the report's 0-based scene `index`. Scenes count from 1
    wherever they are shown (the page, chapters, contact sheet, annotated video: docs/api.md);
    the report's `index` and the thumbnails' names (`scene-000.jpg`) keep counting from 0."""
    return index + 1


def timecode(seconds: float) -> str:
    """H:MM:SS.mmm"""
    millis = max(0, round(seconds * 1000))
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    return f"{hours}:{minutes:02d}:{rest / 1000:06.3f}"
