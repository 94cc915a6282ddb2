"""Where an analysis that takes a live session over picks up: the session's timeline goes on from where
the earlier attempts stopped seeing, and the time between is a gap.

The caller (the server, which reads the session's event log) tells what the earlier attempts reached;
the analysis measures the rest of the time missed itself, up to the moment its source answers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from vidpulse.processing.live.incidents import Incident


@dataclass(frozen=True)
class Resume:
    """timeline_s: the timeline the earlier attempts had analysed; missed_s: the wall time since they
    last reported, as the caller measured it; incidents: theirs, each as it last stood."""

    timeline_s: float
    missed_s: float
    incidents: tuple[Incident, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        return {"timeline_s": self.timeline_s, "missed_s": self.missed_s,
                "incidents": [incident.to_dict() for incident in self.incidents]}

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any] | None) -> Resume | None:
        if raw is None:
            return None
        return cls(max(0.0, float(raw["timeline_s"])), max(0.0, float(raw["missed_s"])),
                   tuple(Incident.from_dict(incident) for incident in raw.get("incidents", ())))
