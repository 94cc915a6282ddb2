"""The worker process: runs one analysis at a time and reports over its pipe.

Imports only `processing`, the standard library and, with a job, server/ops/tracing.py, so a worker
starts fast and a crash in a decoder takes down this process alone. Progress is thinned here to
PROGRESS_HZ, so the pipe and the session's log carry at most that many progress events a second.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import signal
import sys
import time
import traceback
from dataclasses import asdict, fields
from multiprocessing.connection import Connection
from multiprocessing.sharedctypes import Synchronized
from pathlib import Path
from typing import Any

# Message kinds sent to the server.
_PR_SET_PDEATHSIG = 1

STAGE, PROGRESS, DONE, ERROR, CANCELLED, READY = "stage", "progress", "done", "error", "cancelled", "ready"
SCENE = "scene"
LEVELS, INCIDENT = "levels", "incident"  # live sessions (server/live/job.py)
# Kinds a job sends while it runs, before its one final message.
RUNNING = (STAGE, PROGRESS, SCENE, LEVELS, INCIDENT)


class _ProgressSender:
    def __init__(self, conn: Connection, progress_hz: float, stages: _StageSpans) -> None:
        self._conn = conn
        self._interval = 1.0 / progress_hz
        self._last_sent = 0.0
        self._stage: str | None = None
        self._stages = stages

    def __call__(self, progress: Any) -> None:
        now = time.monotonic()
        new_stage = progress.stage != self._stage
        if new_stage:
            self._stage = progress.stage
            self._stages.enter(progress.stage)
            self._conn.send((STAGE, progress.stage))
        if new_stage or progress.fraction >= 1.0 or now - self._last_sent >= self._interval:
            self._last_sent = now
            self._conn.send((PROGRESS, asdict(progress)))


class _StageSpans:
    """A span per analysis stage, each a child of the job's `analysis` span; one open at a time."""

    def __init__(self, tracing: Any) -> None:  # ops.tracing.Tracing, imported with the job
        self._tracing = tracing
        self._open: contextlib.ExitStack | None = None

    def enter(self, stage: str) -> None:
        self.close()
        self._open = contextlib.ExitStack()
        self._open.enter_context(self._tracing.span(f"stage {stage}"))

    def close(self) -> None:
        if self._open is not None:
            self._open.close()
            self._open = None


def _analyze(conn: Connection, cancel_flag: Synchronized, job: dict[str, Any], progress_hz: float) -> Any:
    from vidpulse.processing import AnalysisOptions, analyze
    from vidpulse.server.ops.tracing import Tracing

    # Spans of this process continue the job's trace (server/ops/tracing.py); exported before the
    # job's outcome is sent, so none is lost when the worker is then stopped.
    tracing = Tracing(role="worker")
    stages = _StageSpans(tracing)
    try:
        with tracing.span("analysis", parent=job.get("trace"), attributes={"vidpulse.session": job.get("session", "")}):
            try:
                report = analyze(
                    Path(job["source"]),
                    Path(job["out_dir"]),
                    AnalysisOptions.from_mapping(job["options"]),
                    on_progress=_ProgressSender(conn, progress_hz, stages),
                    is_cancelled=lambda: bool(cancel_flag.value),
                    on_scene=lambda scene: conn.send((SCENE, scene.to_dict())),
                    # The upload's probe, so the file is not probed a second time.
                    info=_upload_probe(job.get("video")),
                    name=job.get("name"),
                )
            finally:
                stages.close()
    finally:
        tracing.shutdown()
    return summarize(report)


def _upload_probe(video: dict[str, Any] | None) -> Any:
    """The probe the server made of the upload, or None (probe again) when it lacks a field."""
    from vidpulse.processing.probe import VideoInfo

    try:
        return VideoInfo(**{f.name: video[f.name] for f in fields(VideoInfo)}) if video else None
    except (KeyError, TypeError):
        return None


def _probe(conn: Connection, cancel_flag: Synchronized, job: dict[str, Any], progress_hz: float) -> Any:
    from vidpulse.processing import probe

    return probe(Path(job["source"])).to_dict()


def _live(conn: Connection, cancel_flag: Synchronized, job: dict[str, Any], progress_hz: float) -> Any:
    from vidpulse.server.live.job import run_live

    return summarize(run_live(conn.send, cancel_flag, job))


KINDS = {"analyze": _analyze, "probe": _probe, "live": _live}


def run_job(conn: Connection, cancel_flag: Synchronized, job: dict[str, Any], progress_hz: float) -> None:
    """Runs one job (`kind` analyze or probe) and sends exactly one final message."""
    from vidpulse.processing import AnalysisError

    try:
        result = KINDS[job.get("kind", "analyze")](conn, cancel_flag, job, progress_hz)
    except AnalysisError as exc:
        if exc.code == "cancelled":
            conn.send((CANCELLED, None))
        else:
            conn.send((ERROR, {"code": exc.code, "message": exc.message}))
        return
    except MemoryError:
        conn.send((ERROR, {"code": "out_of_memory", "message": "The analysis ran out of memory."}))
        return
    except (BrokenPipeError, ConnectionResetError):
        raise  # the pipe to the server broke: let worker_main end quietly
    except Exception as exc:  # a bug or an unexpected decoder failure: fail the job, keep the worker
        # The operator's log gets the traceback; the client gets one readable sentence.
        sys.stderr.write(f"vidpulse worker: job {job.get('source')} failed\n{traceback.format_exc()}")
        message = f"The analysis failed unexpectedly ({type(exc).__name__})."
        conn.send((ERROR, {"code": "internal", "message": message}))
        return
    conn.send((DONE, result))


def summarize(report: dict[str, Any]) -> dict[str, Any]:
    quality = report.get("quality", {})
    return {
        "cuts": len(report.get("cuts", [])),
        "scenes": len(report.get("scenes", [])),
        "black_segments": len(quality.get("black", [])),
        "frozen_segments": len(quality.get("frozen", [])),
        "blurry_segments": len(quality.get("blurry", [])),
        "artifacts": [a["name"] for a in report.get("artifacts", [])],
        "timing": report.get("timing", {}),
    }


# Imported once by the fork server that workers are forked from (server/jobs/pool.py).
HEAVY_MODULES = ("vidpulse.processing", "vidpulse.server.ops.tracing")


def _die_with_parent() -> None:
    """A worker must never outlive its server (kill -9, OOM): an orphan would keep writing into a
    session folder that another worker may be using for the next attempt. (Its parent is the fork
    server, which exits as soon as the server is gone.)"""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def worker_main(conn: Connection, cancel_flag: Synchronized, progress_hz: float, nice: int = 0) -> None:
    _die_with_parent()
    # Analysis yields the CPU to the event loop: with more busy workers than cores, an un-niced
    # pool starved the server and delayed live events by seconds (docs/benchmarks.md).
    with contextlib.suppress(OSError):
        os.nice(nice)
    # The server owns Ctrl-C and SIGTERM, even sent to its whole process group: it hands the job
    # back and ends the worker itself. Forked workers ignore both from birth (jobs/quiet.py); this
    # covers a worker started without the fork server.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    import vidpulse.processing  # noqa: F401  (import the heavy libraries before saying ready)

    try:
        conn.send((READY, os.getpid()))
        while (job := conn.recv()) is not None:
            run_job(conn, cancel_flag, job, progress_hz)
    except (EOFError, OSError):
        return  # the server is gone; nobody is left to report to
