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
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        log.info("stopping: running jobs are left to be claimed by other workers")
        await runtime.stop()


def run_forever(settings: Settings) -> int:
    configure_logging(settings.log_level)
    asyncio.run(_serve_jobs(settings))
    return 0
