"""Incidents: conditions of a live stream that lasted `incident_min_s`, each announced when it opens
and again when it closes.

A condition is judged on the clock it happens on: black, frozen and silence on the media's own time
(a frozen picture lasts as long as the media says, however fast it is analysed), a lost source on the
wall clock (no media arrives meanwhile). Every incident's span is on the session's timeline.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any


class IncidentKind(StrEnum):
    BLACK = "black"
    FROZEN = "frozen"
    SILENCE = "silence"
    SOURCE_LOST = "source_lost"
    GAP = "gap"


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class Incident:
    id: str
    kind: IncidentKind
    start_s: float
    end_s: float | None
    opened_at: str
    closed_at: str | None = None

    @property
    def state(self) -> str:
        return "open" if self.closed_at is None else "closed"

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "kind": self.kind.value, "start_s": round(self.start_s, 3),
                "end_s": None if self.end_s is None else round(self.end_s, 3),
                "opened_at": self.opened_at, "closed_at": self.closed_at}

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> Incident:
        return cls(str(raw["id"]), IncidentKind(raw["kind"]), float(raw["start_s"]),
                   None if raw["end_s"] is None else float(raw["end_s"]), str(raw["opened_at"]),
                   raw.get("closed_at"))


OnIncident = Callable[[Incident], None]


class IncidentBook:
    """Opens and closes incidents as conditions are reported; keeps every one for the report."""

    def __init__(self, min_s: float, on_incident: OnIncident, prefix: str = "") -> None:
        self.min_s = min_s
        self._on_incident = on_incident
        self._prefix = prefix
        self._open: dict[IncidentKind, Incident] = {}
        self._latest: dict[str, Incident] = {}  # every incident by id, as it stands (in the order opened)
        self._opened = 0  # incidents this book opened (their ids' numbers)

    def holds(self, kind: IncidentKind, since: float | None, now: float) -> None:
        """The condition `kind` has held since `since` (None: it does not hold) as of `now`, on one
        clock; an incident opens once it held `min_s`, and closes at `now` when it no longer holds."""
        incident = self._open.get(kind)
        if since is None:
            if incident is not None:
                self.close(kind, now)
        elif incident is None and now - since >= self.min_s - 1e-6:
            self._announce(Incident(self._next_id(), kind, since, None, now_iso()))

    def open(self, kind: IncidentKind, start_s: float) -> None:
        """Open `kind` now, at `start_s` (the caller judged its duration on a clock of its own)."""
        if kind not in self._open:
            self._announce(Incident(self._next_id(), kind, start_s, None, now_iso()))

    def close(self, kind: IncidentKind, end_s: float) -> None:
        incident = self._open.pop(kind, None)
        if incident is not None:
            self._announce(replace(incident, end_s=max(end_s, incident.start_s), closed_at=now_iso()))

    def span(self, kind: IncidentKind, start_s: float, end_s: float) -> None:
        """A condition known only once it is over (a gap): opened and closed at once, if long enough."""
        if end_s - start_s >= self.min_s - 1e-6:
            self.open(kind, start_s)
            self.close(kind, end_s)

    def carry(self, earlier: Iterable[Incident], end_s: float) -> None:
        """The incidents of the attempts this one takes over from, as they stood, kept for the report;
        one they left open is closed at `end_s` (where they stopped seeing), and announced closed."""
        for incident in earlier:
            self._latest[incident.id] = incident
            if incident.closed_at is None:
                self._announce(replace(incident, end_s=max(end_s, incident.start_s), closed_at=now_iso()))

    def is_open(self, kind: IncidentKind) -> bool:
        return kind in self._open

    def close_all(self, end_s: float) -> None:
        for kind in list(self._open):
            self.close(kind, end_s)

    def all(self) -> list[Incident]:
        """Every incident, closed and open, in the order they opened."""
        return list(self._latest.values())

    def _announce(self, incident: Incident) -> None:
        if incident.closed_at is None:
            self._open[incident.kind] = incident
        self._latest[incident.id] = incident
        self._on_incident(incident)

    def _next_id(self) -> str:
        self._opened += 1
        return f"{self._prefix}{self._opened}"
