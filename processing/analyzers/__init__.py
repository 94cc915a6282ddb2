"""Analyzers: each is fed every measured frame by the pipeline's one loop and never decodes.

A new measurement is one new module here with `update(measured)` and `result()`.
"""

from __future__ import annotations

from typing import Any, Protocol

from vidpulse.processing.features import Measured


class Analyzer(Protocol):
    def update(self, measured: Measured) -> None: ...

    def result(self) -> Any: ...
