"""Vidpulse video analysis: one decode pass, small per-frame analyzers, a JSON report.

No web imports: the server, the CLI, a worker process or a notebook call `analyze` and talk to
it only through `on_progress`, `is_cancelled` and `on_scene` (each scene as it closes).
"""

from __future__ import annotations

from vidpulse.processing.errors import AnalysisError, Cancelled, OptionsError, UndecodableVideo
from vidpulse.processing.options import AnalysisOptions
from vidpulse.processing.pipeline import analyze
from vidpulse.processing.probe import VideoInfo, probe
from vidpulse.processing.progress import Progress
from vidpulse.processing.report import Scene
from vidpulse.processing.schema import REPORT_SCHEMA_VERSION

__all__ = [
    "REPORT_SCHEMA_VERSION",
    "AnalysisError",
    "AnalysisOptions",
    "Cancelled",
    "OptionsError",
    "Progress",
    "Scene",
    "UndecodableVideo",
    "VideoInfo",
    "analyze",
    "probe",
]
