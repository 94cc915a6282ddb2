"""Analyzers: each is fed every measured frame by the pipeline's one loop and never decodes.

A new measurement is one new module here with `update(measured)` and `result()`.
"""

from __future__ import annotations

from typing import Protocol, TypeVar

from vidpulse.processing.features import Measured

Result = TypeVar("Result", covariant=True)


class Analyzer(Protocol[Result]):
    """What the pipeline drives (pipeline.py): `update` with every frame in order, then
    `result` once, after the last. The keyframe picker is fed each frame later, once its scene
    number is final; the others as the frame is decoded."""

    def update(self, measured: Measured) -> None: ...

    def result(self) -> Result: ...
