"""Scenes are numbered from 1 wherever a person reads them (the page, chapters, the contact sheet,
the annotated video's overlay); the report's `index` counts from 0 (docs/api.md). The chapters'
cue ids are checked with the chapters (test_exports.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.processing.conftest import analyse
from tests.support.videogen import Truth
from vidpulse.processing.analyzers import keyframes
from vidpulse.processing.render import Renderer


def test_the_overlay_numbers_scenes_from_one(
    std_clip: tuple[Path, Truth], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The label a viewer reads says `scene 1` on the first scene, as the page and the chapters do."""
    drawn: list[str] = []
    label = Renderer._label

    def spy(self: Renderer, luma: np.ndarray, text: str, origin: tuple[int, int]) -> None:
        drawn.append(text)
        label(self, luma, text, origin)

    monkeypatch.setattr(Renderer, "_label", spy)
    report = analyse(std_clip[0], tmp_path, render=True)
    scenes = [text for text in drawn if text.startswith("scene ")]
    assert scenes[0] == "scene 1"
    assert sorted(set(scenes)) == [f"scene {s['index'] + 1}" for s in report["scenes"]]
    assert report["scenes"][0]["index"] == 0


def test_the_contact_sheet_numbers_scenes_from_one(
    std_clip: tuple[Path, Truth], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    drawn: list[str] = []
    draw = keyframes.draw_label

    def spy(image: np.ndarray, text: str, origin: tuple[int, int], scale: float) -> None:
        drawn.append(text)
        draw(image, text, origin, scale)

    monkeypatch.setattr(keyframes, "draw_label", spy)
    report = analyse(std_clip[0], tmp_path)
    assert [text.split()[0] for text in drawn] == [f"#{s['index'] + 1}" for s in report["scenes"]]
    # The thumbnails keep their names, part of the public contract.
    assert report["scenes"][0]["thumbnail"] == "scene-000.jpg"
