"""The report of a live session: the file report's fields over the whole stream, its options with the
live ones, and every incident with its span."""

from __future__ import annotations

from pydantic import Field

from vidpulse.processing.live.incidents import IncidentKind
from vidpulse.processing.live.options import LiveOptions
from vidpulse.processing.schema import Closed, Report, Seconds, options_model
from vidpulse.processing.schema_base import Unit
from vidpulse.processing.schema_cues import IncidentDetail, QcCheckId

LiveOptionsModel = options_model(LiveOptions, "LiveOptions")


class Incident(Closed):
    """A condition of a live stream that lasted at least `incident_min_s`."""

    id: str = Field(description="unique within the session")
    kind: IncidentKind = Field(description=(
        "black, frozen (the picture), silence (below -60 dB), source_lost (the source did not answer; "
        "retried for `reconnect_s`), gap (media the analysis never got); a technical cue's type (report.cues: "
        "blurry, clipping, color_bars, interlaced, letterbox, pillarbox, out_of_range, audio_phase, "
        "channel_silent, loudness); qc: a check of the option qc_profile that fails (`check`)"))
    start_s: Seconds = Field(description="on the session's timeline (0: its first frame)")
    end_s: Seconds | None = Field(description="exclusive; null while open")
    opened_at: str = Field(json_schema_extra={"format": "date-time"}, description="when it was announced")
    closed_at: str | None = Field(json_schema_extra={"format": "date-time"}, description="null while open")
    check: QcCheckId | None = Field(default=None, description="kind qc: the check that fails (report.qc's ids)")
    confidence: Unit | None = Field(default=None, description=(
        "a technical cue's (or the cue failing a check), as it stands: how clearly the detector's tests "
        "were passed; null for the other kinds"))
    detail: IncidentDetail | None = Field(default=None, description=(
        "a technical cue's detail as in report.cues (null when it has none), as it stands; kind qc: what was "
        "measured so far against the check's limit"))


class LiveReport(Report):
    """report.json of a live session. Times are on the session's timeline: 0 at its first frame, moving on
    across gaps and lost stretches by the time they took. A session taken over by a new attempt (its host
    died or stopped) goes on on the same timeline after a `gap`: `incidents` are the whole session's, the
    other fields what the last attempt analysed, from `analysed.start_s` on."""

    options: LiveOptionsModel = Field(  # type: ignore[valid-type]
        description="the options of the run, defaults filled in")
    incidents: list[Incident] = Field(description=(
        "every incident of the session (those of the attempts it took over from too), in the order they "
        "opened, all closed"))
