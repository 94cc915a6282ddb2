"""Where an analysis that takes a live session over picks up: the session's timeline goes on from where
the earlier attempts stopped seeing, and the media between is a gap.

The caller (the server, which reads the session's event log) tells what the earlier attempts reached, and
how far behind the source they were then; the analysis measures the rest itself once its source answers:
the media missed is the wall time since, less what the source still holds from before (an HLS stream is
joined three segments from its end: media older than its live edge), plus what the earlier attempts had
not reached yet.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from vidpulse.processing.live.incidents import Incident


@dataclass(frozen=True)
class Resume:
    """timeline_s: the timeline the earlier attempts had analysed when they last reported, at `seen_at`
    (epoch seconds: the wall clock is the one clock two hosts share), lag_s behind the source's newest
    media; incidents: theirs, each as it last stood."""

    timeline_s: float
    seen_at: float
    lag_s: float = 0.0
    incidents: tuple[Incident, ...] = field(default=())

    def missed(self, now: float, joined_lag_s: float) -> float:
        """The media missed, at `now` (epoch seconds), by an analysis that joined the source `joined_lag_s`
        behind its newest media."""
        return max(0.0, now - self.seen_at + self.lag_s - joined_lag_s)

    def to_dict(self) -> dict[str, Any]:
        return {"timeline_s": self.timeline_s, "seen_at": self.seen_at, "lag_s": self.lag_s,
                "incidents": [incident.to_dict() for incident in self.incidents]}

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any] | None) -> Resume | None:
        if raw is None:
            return None
        return cls(max(0.0, float(raw["timeline_s"])), float(raw["seen_at"]), max(0.0, float(raw["lag_s"])),
                   tuple(Incident.from_dict(incident) for incident in raw["incidents"]))
