"""Live analysis: the file pipeline's analyzers fed frame by frame from a stream that does not end on
its own, with levels once a second and incidents as conditions open and close.

No network here either: a source (server/live/) hands over `items` (runs of media to decode, and word
of a lost source, a gap, the end), and `LiveAnalysis` turns them into events and, at the end, a report.
"""

from __future__ import annotations

from vidpulse.processing.live.analysis import LiveAnalysis, LiveEvents
from vidpulse.processing.live.options import LiveOptions

__all__ = ["LiveAnalysis", "LiveEvents", "LiveOptions"]
