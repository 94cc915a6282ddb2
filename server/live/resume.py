"""What the earlier attempts of a live session's current run left behind, read from its event log: how far
its timeline had got and when, and the incidents they announced. A new attempt of the same run (the host
running it died, was fenced off, or stopped) goes on from there (processing/live/resume.py).

Invariant: only the current run counts. A run's attempts are those from its first (`Session.run_from`)
on, each opening with its `started` event; a client's retry begins a new run, whose timeline starts at 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from vidpulse.processing.live.incidents import Incident
from vidpulse.processing.live.resume import Resume
from vidpulse.server.backends.protocols import EventLog
from vidpulse.server.models import EventType, LiveProgress, Session, parse_time, utcnow
from vidpulse.server.schemas import IncidentData, StartedData


@dataclass(frozen=True)
class Earlier:
    """progress: the last `progress` of the earlier attempts, logged at `seen_at`; incidents: every
    `incident` event they logged, in order (each incident opened, then closed)."""

    progress: LiveProgress
    seen_at: datetime
    incidents: tuple[IncidentData, ...]

    def resume(self) -> Resume:
        """Where the new attempt starts: on the timeline they reached (the new attempt measures the media
        missed since, once its source answers)."""
        latest = {incident.id: incident for incident in self.incidents}
        return Resume(self.progress.media_s, self.seen_at.timestamp(), self.progress.lag_s, tuple(
            Incident.from_dict(incident.model_dump(mode="json")) for incident in latest.values()))


async def earlier_attempts(events: EventLog, session: Session) -> Earlier | None:
    """What the attempts of the session's run before its current one (`session.attempt`, begun) saw; None
    when there were none, or they analysed nothing (the new attempt starts as the first would)."""
    if session.attempt <= session.run_from:
        return None  # the run's first attempt
    reached: tuple[LiveProgress, datetime] | None = None
    incidents: list[IncidentData] = []
    in_run = False
    for event in await events.events_after(session.id, None):
        if event.type is EventType.STARTED:
            attempt = StartedData.model_validate(event.data).attempt
            if attempt >= session.attempt:
                break  # the current attempt's own events follow
            in_run = attempt >= session.run_from
        elif not in_run:
            continue
        elif event.type is EventType.PROGRESS and event.data.get("stage") == "live":
            reached = (LiveProgress.model_validate(event.data), parse_time(event.ts) or utcnow())
        elif event.type is EventType.INCIDENT:
            incidents.append(IncidentData.model_validate(event.data))
    if reached is None:
        return None
    return Earlier(reached[0], reached[1], tuple(incidents))
