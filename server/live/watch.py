"""`vidpulse watch URL`: a live analysis here, without a server, its incidents printed as they open and
close (one line each), the report written at the end (the source ended, max_duration_s, or Ctrl-C).

It is the user's own machine fetching, as `vidpulse analyze` reads the user's own files: no address is
refused (ALLOW_PRIVATE_URLS for a server); what is not a live source still is.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from vidpulse.processing.live.analysis import LiveAnalysis, LiveEvents, LiveProgress
from vidpulse.processing.live.incidents import Incident
from vidpulse.processing.live.options import LiveOptions
from vidpulse.server.live.sources import live_items, scheme_of

FETCH_TIMEOUT_S = 30.0


def incident_line(incident: Incident) -> str:
    """`12.0s black open`, `14.5s black closed (12.0-14.5s, 2.5s)`, `9.1s qc true_peak open`: when, on
    the timeline, it happened."""
    what = incident.kind.value if incident.check is None else f"{incident.kind.value} {incident.check.value}"
    if incident.end_s is None:
        return f"{incident.start_s:.1f}s {what} open"
    span = incident.end_s - incident.start_s
    return f"{incident.end_s:.1f}s {what} closed ({incident.start_s:.1f}-{incident.end_s:.1f}s, {span:.1f}s)"


def watch(url: str, out: Path, options: dict[str, Any], *, on_incident: Callable[[Incident], None],
          on_progress: Callable[[LiveProgress], None] | None = None) -> dict[str, Any]:
    """Follow `url` until it ends, max_duration_s, or an interrupt (Ctrl-C: a stop, with the report; a
    second one: at once); the report. Raises AnalysisError (SourceLost, ...) or ValueError (the URL)."""
    scheme_of(url)  # raises OutboundRefused (a ValueError) for what is not a live source
    parsed = LiveOptions.from_mapping(options)
    stop = threading.Event()
    events = LiveEvents(incident=on_incident, progress=on_progress or (lambda _: None))
    name = url.rstrip("/").rsplit("/", 1)[-1] or "live"
    analysis = LiveAnalysis(out, parsed, events, stopping=stop.is_set, name=name)
    with _interrupt_stops(stop), live_items(url, allow_private=True, reconnect_s=parsed.reconnect_s,
                                            timeout_s=FETCH_TIMEOUT_S, stopping=stop.is_set) as items:
        return analysis.run(items)


@contextlib.contextmanager
def _interrupt_stops(stop: threading.Event) -> Iterator[None]:
    """The first Ctrl-C sets `stop` (the analysis ends with its report); the second interrupts."""

    def handler(signum: int, frame: Any) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()

    if threading.current_thread() is not threading.main_thread():
        yield  # signals reach the main thread only
        return
    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
