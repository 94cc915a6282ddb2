"""`vidpulse worker`: worker processes only, taking jobs from Redis (no HTTP)."""

from __future__ import annotations

import asyncio
import logging
import signal

from vidpulse.server.config import Settings
from vidpulse.server.logs import configure_logging
from vidpulse.server.ops.metrics import Metrics
from vidpulse.server.ops.tracing import Tracing
from vidpulse.server.runtime import Runtime

log = logging.getLogger("vidpulse.worker")


async def _serve_jobs(settings: Settings) -> None:
    runtime = await Runtime.start(settings, Metrics(), Tracing(role="worker-host"), probes=False)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    main = asyncio.current_task()
    assert main is not None

    def on_signal() -> None:
        if stop.is_set():  # a second Ctrl-C: at once (what was running was handed back already)
            log.warning("stopping at once")
            main.cancel()
        else:
            log.info("stopping (a second signal stops at once)")
            runtime.begin_stop()
            stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, on_signal)
    try:
        await stop.wait()
    finally:
        await runtime.stop()


def run_forever(settings: Settings) -> int:
    configure_logging(settings.log_level)
    try:
        asyncio.run(_serve_jobs(settings))
    except asyncio.CancelledError:
        return 130  # stopped at once (the worker processes are killed at exit: jobs/pool.py)
    return 0
