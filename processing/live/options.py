"""The options of a live session: the analysis options, and how long and how patiently it runs."""

from __future__ import annotations

from dataclasses import dataclass, field

from vidpulse.processing.errors import OptionsError
from vidpulse.processing.options import _NO_LIMIT, AnalysisOptions, _opt

# What only a file has: a live stream has no start to seek from, no end, and no annotated copy.
_FILE_ONLY = ("render", "start_s", "end_s", "max_frames")
DEFAULT_MAX_S = 86400.0


@dataclass(frozen=True)
class LiveOptions(AnalysisOptions):
    """AnalysisOptions, and:

    - max_duration_s: the session ends (succeeded) after this many seconds of the stream.
    - reconnect_s: how long a lost source is retried before the session fails (`source_lost`), and
      how long a source that never answered is tried (`source_unreachable`).
    - incident_min_s: how long a condition (black, frozen, silence, source lost, gap, a technical cue) lasts before it
      is an incident.
    - notify_incidents: each incident's opening and closing is also a webhook (the server's; the
      analysis itself only announces them).
    """

    max_duration_s: float = _opt(DEFAULT_MAX_S, 1.0, _NO_LIMIT, "live: end the session after this many seconds")
    reconnect_s: float = _opt(30.0, 0.0, 3600.0, "live: seconds a lost source is retried before the session fails")
    incident_min_s: float = _opt(2.0, 0.0, 3600.0, "live: seconds a condition lasts before it is an incident")
    notify_incidents: bool = field(default=False, metadata={"doc": (
        "live: also send each incident's opening and closing as a webhook (session.incident.opened, "
        "session.incident.closed)")})

    def __post_init__(self) -> None:
        super().__post_init__()
        defaults = AnalysisOptions()
        for name in _FILE_ONLY:
            if getattr(self, name) != getattr(defaults, name):
                raise OptionsError(name, f"{name} applies to files only, not to a live session.")

    def analysis(self) -> AnalysisOptions:
        """The analysis options alone (as a file's report lists them)."""
        return AnalysisOptions.from_mapping({k: v for k, v in self.to_dict().items() if k in _ANALYSIS})


_ANALYSIS = frozenset(AnalysisOptions.__dataclass_fields__)
LIVE_FIELDS = tuple(name for name in LiveOptions.__dataclass_fields__ if name not in _ANALYSIS)
