"""The live job, as a worker process runs it (server/jobs/child.py's `live` kind): the source's items
into LiveAnalysis, what it reports out over the worker's pipe.

The job's cancel flag says more than for a file: CANCEL ends it without a report (cancelled), STOP ends
it with one (a client's stop: succeeded).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from vidpulse.processing.live.analysis import LiveAnalysis, LiveEvents
from vidpulse.processing.live.options import LiveOptions
from vidpulse.processing.live.resume import Resume
from vidpulse.server.live.sources import live_items

# The values of the job's shared flag (server/jobs/pool.py).
CANCEL, STOP = 1, 2
# Message kinds, as server/jobs/child.py names them.
STAGE, PROGRESS, SCENE, LEVELS, INCIDENT = "stage", "progress", "scene", "levels", "incident"
LIVE_STAGE = "live"


def run_live(send: Callable[[tuple[str, Any]], None], flag: Any, job: dict[str, Any]) -> dict[str, Any]:
    """Analyse the live source until it ends, max_duration_s, or a stop; the report. Raises Cancelled,
    SourceLost, SourceUnreachable (AnalysisErrors, which the worker turns into its final message)."""
    options = LiveOptions.from_mapping(job["options"])
    events = LiveEvents(
        progress=lambda progress: send((PROGRESS, asdict(progress))),
        levels=lambda levels: send((LEVELS, levels.to_dict())),
        scene=lambda scene: send((SCENE, scene.to_dict())),
        incident=lambda incident: send((INCIDENT, {**incident.to_dict(), "state": incident.state})),
    )
    analysis = LiveAnalysis(Path(job["out_dir"]), options, events, cancelled=lambda: flag.value == CANCEL,
                            stopping=lambda: flag.value == STOP, incident_prefix=f"{job['attempt']}-",
                            name=job["name"], resume=Resume.from_dict(job.get("resume")))
    send((STAGE, LIVE_STAGE))
    with live_items(job["url"], allow_private=job["allow_private"], reconnect_s=options.reconnect_s,
                    timeout_s=job["timeout_s"], stopping=lambda: flag.value != 0) as items:
        return analysis.run(items)
