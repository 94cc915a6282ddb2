"""Incidents: conditions of a live stream that lasted `incident_min_s`, each announced when it opens
and again when it closes.

A condition is judged on the clock it happens on: black, frozen, silence and the technical cues on the
media's own time (a frozen picture lasts as long as the media says, however fast it is analysed), a lost
source on the wall clock (no media arrives meanwhile). Every incident's span is on the session's timeline.

Invariants: at most one incident is open per kind and subject (a channel, a failing check); an incident
that follows a cue (`follow`) is open exactly while its detector has that cue in progress and it has
lasted `min_s`, and it closes with the cue's span.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from vidpulse.processing.cues import Cue
from vidpulse.processing.schema_cues import QcCheckId


class IncidentKind(StrEnum):
    BLACK = "black"
    FROZEN = "frozen"
    SILENCE = "silence"
    SOURCE_LOST = "source_lost"
    GAP = "gap"
    # The technical cues (report.cues' types).
    BLURRY = "blurry"
    CLIPPING = "clipping"
    COLOR_BARS = "color_bars"
    INTERLACED = "interlaced"
    LETTERBOX = "letterbox"
    PILLARBOX = "pillarbox"
    OUT_OF_RANGE = "out_of_range"
    AUDIO_PHASE = "audio_phase"
    CHANNEL_SILENT = "channel_silent"
    LOUDNESS = "loudness"
    # A check of the option qc_profile that fails (`check` says which).
    QC = "qc"


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
    check: QcCheckId | None = None  # kind qc: the failing check
    confidence: float | None = None  # a cue's, as it stands
    detail: dict[str, Any] | None = None  # a cue's (or a failing check's value and limit), as it stands

    @property
    def state(self) -> str:
        return "open" if self.closed_at is None else "closed"

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "kind": self.kind.value, "start_s": round(self.start_s, 3),
                "end_s": None if self.end_s is None else round(self.end_s, 3),
                "opened_at": self.opened_at, "closed_at": self.closed_at,
                "check": None if self.check is None else self.check.value,
                "confidence": None if self.confidence is None else round(min(1.0, max(0.0, self.confidence)), 3),
                "detail": self.detail}

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> Incident:
        check, confidence = raw.get("check"), raw.get("confidence")
        return cls(str(raw["id"]), IncidentKind(raw["kind"]), float(raw["start_s"]),
                   None if raw["end_s"] is None else float(raw["end_s"]), str(raw["opened_at"]),
                   raw.get("closed_at"), None if check is None else QcCheckId(check),
                   None if confidence is None else float(confidence), raw.get("detail"))


OnIncident = Callable[[Incident], None]
# What an incident is open about: its kind, and its subject within the kind (a channel, a check), if any.
Key = tuple[IncidentKind, str]


class IncidentBook:
    """Opens and closes incidents as conditions are reported; keeps every one for the report."""

    def __init__(self, min_s: float, on_incident: OnIncident, prefix: str = "") -> None:
        self.min_s = min_s
        self._on_incident = on_incident
        self._prefix = prefix
        self._open: dict[Key, Incident] = {}
        self._followed: dict[Key, Cue] = {}  # the cue an open incident follows, as last seen
        self._latest: dict[str, Incident] = {}  # every incident by id, as it stands (in the order opened)
        self._opened = 0  # incidents this book opened (their ids' numbers)

    def holds(self, kind: IncidentKind, since: float | None, now: float) -> None:
        """The condition `kind` has held since `since` (None: it does not hold) as of `now`, on one
        clock; an incident opens once it held `min_s`, and closes at `now` when it no longer holds."""
        incident = self._open.get((kind, ""))
        if since is None:
            if incident is not None:
                self.close(kind, now)
        elif incident is None and now - since >= self.min_s - 1e-6:
            self._announce(Incident(self._next_id(), kind, since, None, now_iso()), (kind, ""))

    def follow(self, kind: IncidentKind, cue: Cue | None, *, subject: str = "", check: QcCheckId | None = None,
               min_s: float | None = None) -> None:
        """`cue`: the cue of `kind` in progress (None: none), as far as it goes. An incident opens once it
        has lasted `min_s` (default: the book's), carries its confidence and detail as they grow, and
        closes at the end of the cue last seen when it is over, or when another cue (a later start)
        takes its place. `subject` (or `check`) tells apart incidents of one kind open together."""
        key = (kind, check.value if check is not None else subject)
        incident = self._open.get(key)
        if incident is not None and (cue is None or abs(cue.start_s - incident.start_s) > 1e-6):
            last = self._followed.pop(key)
            self._close(key, last.end_s, last)
            incident = None
        if cue is None:
            return
        if incident is not None:
            self._followed[key] = cue
        elif cue.end_s - cue.start_s >= (self.min_s if min_s is None else min_s) - 1e-6:
            self._followed[key] = cue
            self._announce(Incident(self._next_id(), kind, cue.start_s, None, now_iso(), check=check,
                                    confidence=cue.confidence, detail=cue.detail or None), key)

    def open(self, kind: IncidentKind, start_s: float) -> None:
        """Open `kind` now, at `start_s` (the caller judged its duration on a clock of its own)."""
        if (kind, "") not in self._open:
            self._announce(Incident(self._next_id(), kind, start_s, None, now_iso()), (kind, ""))

    def close(self, kind: IncidentKind, end_s: float) -> None:
        self._close((kind, ""), end_s)

    def _close(self, key: Key, end_s: float, cue: Cue | None = None) -> None:
        incident = self._open.pop(key, None)
        if incident is None:
            return
        closed = replace(incident, end_s=max(end_s, incident.start_s), closed_at=now_iso())
        if cue is not None:
            closed = replace(closed, confidence=cue.confidence, detail=cue.detail or None)
        self._announce(closed)

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
        return any(key[0] == kind for key in self._open)

    def close_all(self, end_s: float) -> None:
        """The stream ends: a followed incident closes with its cue as last seen, any other at `end_s`."""
        for key in list(self._open):
            cue = self._followed.pop(key, None)
            self._close(key, end_s if cue is None else cue.end_s, cue)

    def all(self) -> list[Incident]:
        """Every incident, closed and open, in the order they opened."""
        return list(self._latest.values())

    def _announce(self, incident: Incident, key: Key | None = None) -> None:
        """Record and announce `incident`; an open one is open under `key`."""
        if key is not None and incident.closed_at is None:
            self._open[key] = incident
        self._latest[incident.id] = incident
        self._on_incident(incident)

    def _next_id(self) -> str:
        self._opened += 1
        return f"{self._prefix}{self._opened}"
