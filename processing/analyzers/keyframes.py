"""Keyframes: one thumbnail JPEG per scene (`scene-000.jpg`, ...) and a `contact-sheet.jpg`.

Fed frames that already know their scene number (the pipeline holds frames back until the cut
decisions for them are final), so a thumbnail never straddles a cut.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from vidpulse.processing.artifacts import Artifacts
from vidpulse.processing.features import Measured
from vidpulse.processing.overlay import draw_label, scene_number

JPEG_QUALITY = 85
# Transition frames at a scene's start make poor thumbnails: skip these when the scene is longer.
SETTLE_FRAMES = 3
# Tiles large enough to see what a scene shows, and a label to read at 100 %: a sheet 1280 px wide.
SHEET_COLUMNS = 4
SHEET_TILE_WIDTH = 320
SHEET_LABEL_SCALE = 0.6
# A contact sheet for a video with thousands of scenes would be huge: sample this many at most.
SHEET_MAX_TILES = 120


def thumbnail_name(scene: int) -> str:
    return f"scene-{scene:03d}.jpg"


class KeyframeAnalyzer:
    """Keeps one candidate picture for the current scene: the sharpest non-black frame so far.
    The frames come in scenes numbered from 0; `next_scene` ends one."""

    def __init__(self, artifacts: Artifacts) -> None:
        self._artifacts = artifacts
        self._scene = 0
        self._seen = 0  # frames of the current scene
        self._best: tuple[float, np.ndarray] | None = None
        self.thumbnails: list[str] = []
        self._labels: list[str] = []
        self._label = ""

    def next_scene(self) -> None:
        """The frames from the next one on are the next scene's: write this scene's thumbnail."""
        self._write_current()
        self._scene, self._seen, self._best = self._scene + 1, 0, None

    def update(self, measured: Measured) -> None:
        if not self._seen:
            self._label = f"#{scene_number(self._scene)} {measured.frame.time_s:.1f}s"
        self._seen += 1
        # Black frames rank last; past the settle frames, sharper ranks higher. Only some
        # frames carry a colour copy (it costs); a scene too short to have one gets a grey
        # thumbnail rather than none.
        rank = -1.0 if measured.stats.black else measured.stats.sharpness
        if self._seen <= SETTLE_FRAMES:
            rank -= 1e9
        picture = measured.frame.colour
        if picture is None:
            if self._best is not None:
                return
            picture, rank = cv2.cvtColor(measured.frame.luma, cv2.COLOR_GRAY2BGR), -1e12
        if self._best is None or rank > self._best[0]:
            self._best = (rank, picture)

    def result(self) -> list[str]:
        """Write the last scene's thumbnail and the contact sheet; return the thumbnail names."""
        self._write_current()
        if self.thumbnails:
            self._write_sheet()
        return self.thumbnails

    def _write_current(self) -> None:
        if self._best is None:
            return
        name = thumbnail_name(self._scene)
        self._artifacts.write_bytes(name, "image/jpeg", _jpeg(self._best[1]))
        self.thumbnails.append(name)
        self._labels.append(self._label)
        self._best = None

    def _write_sheet(self) -> None:
        step = max(1, math.ceil(len(self.thumbnails) / SHEET_MAX_TILES))
        chosen = list(range(0, len(self.thumbnails), step))
        tiles = [self._tile(i) for i in chosen]
        tile_h, tile_w = tiles[0].shape[:2]
        rows = math.ceil(len(tiles) / SHEET_COLUMNS)
        columns = min(SHEET_COLUMNS, len(tiles))
        sheet = np.full((rows * tile_h, columns * tile_w, 3), 24, dtype=np.uint8)
        for n, tile in enumerate(tiles):
            r, c = divmod(n, SHEET_COLUMNS)
            sheet[r * tile_h : (r + 1) * tile_h, c * tile_w : (c + 1) * tile_w] = tile
        self._artifacts.write_bytes("contact-sheet.jpg", "image/jpeg", _jpeg(sheet))

    def _tile(self, i: int) -> np.ndarray:
        # Read back from disk: holding every thumbnail in memory would grow with the scene count.
        image = cv2.imread(str(self._artifacts.out_dir / self.thumbnails[i]))
        if image is None:
            raise RuntimeError(f"cannot read back {self.thumbnails[i]}")
        height = max(2, round(image.shape[0] * SHEET_TILE_WIDTH / image.shape[1]))
        tile = cv2.resize(image, (SHEET_TILE_WIDTH, height), interpolation=cv2.INTER_AREA)
        draw_label(tile, self._labels[i], (6, 22), SHEET_LABEL_SCALE)
        return tile


def _jpeg(image: np.ndarray) -> bytes:
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    return data.tobytes()
