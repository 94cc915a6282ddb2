"""What a live source hands to the analysis, in order: runs of continuous media, and word of what
happened between them.

A `Run` is opened as one PyAV container and decoded to its end; whatever breaks the media's continuity
(a discontinuity, a gap, a lost source) ends a run, and the next media is a new run.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from av.container import InputContainer


class Run(Protocol):
    """One stretch of continuous media."""

    def open(self) -> InputContainer:
        """The container to demux; raises av.FFmpegError or OSError when it cannot be opened."""

    def lag_s(self, played_s: float) -> float:
        """How far the source's newest media is ahead of `played_s` seconds into this run."""

    def ended(self, error: str | None) -> None:
        """The analysis is done with the run: it played to its end or a stop (`error` None), or broke off."""


@dataclass(frozen=True)
class Lost:
    """The source stopped answering (or stopped growing); it is being retried."""

    reason: str


@dataclass(frozen=True)
class Back:
    """A lost source answers again; its media follows as a new run. `missing_s`: the media missed
    meanwhile, when the source can tell (None: as long as it was lost)."""

    missing_s: float | None = None


@dataclass(frozen=True)
class Gap:
    """Media the analysis will never get (it slid out of the playlist, or was skipped to keep up)."""

    missing_s: float


@dataclass(frozen=True)
class Ended:
    """The source ended (an HLS playlist's EXT-X-ENDLIST, the end of a pulled stream)."""


@dataclass(frozen=True)
class Tick:
    """Nothing new yet: the analysis may look at its clocks (a lost source's incident opens meanwhile)."""


Item = Run | Lost | Back | Gap | Ended | Tick
