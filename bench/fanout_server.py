"""The real app served another way, for `bench/fanout.py --variant ...`: under uvicorn with the
event loop profiled (`app`, with `--profile`), or under Granian (`granian`).

    python bench/fanout_server.py --server uvicorn|granian

`--server granian`: the app under Granian's ASGI interface (`pip install granian`; not a dependency
of the project), one worker, with the app's lifespan. (The plain ASGI SSE response measured here
before is gone: the route now writes events from the hub's publish, see docs/benchmarks.md.)
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from vidpulse.server.app import create_app  # noqa: E402
from vidpulse.server.config import Settings  # noqa: E402


def build_app():  # type: ignore[no-untyped-def]
    return create_app(Settings.from_env())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--server", choices=("uvicorn", "granian"), default="uvicorn")
    args = parser.parse_args()
    settings = Settings.from_env()
    from vidpulse.server.logs import configure_logging

    configure_logging(settings.log_level)
    if args.server == "granian":
        from granian.constants import Interfaces, Loops
        from granian.server import Server

        Server("fanout_server:app", address=settings.host, port=settings.port,
               interface=Interfaces.ASGI, workers=1, loop=Loops.uvloop, log_enabled=False,
               websockets=True).serve()
        return
    import uvicorn

    def serve() -> None:
        uvicorn.run(build_app(), host=settings.host, port=settings.port, log_config=None,
                    log_level=settings.log_level, access_log=False, ws_per_message_deflate=False,
                    ws_max_size=1 << 20)

    profile_to = os.environ.get("FANOUT_PROFILE")
    if not profile_to:
        serve()
        return
    import cProfile
    import signal

    # uvicorn re-raises the SIGTERM it caught once it has shut down: make that an exit that
    # still writes the profile.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    profiler = cProfile.Profile()
    try:
        # The event loop's thread only: where the fan-out's CPU goes (`python -m pstats FILE`).
        profiler.runcall(serve)
    finally:
        profiler.dump_stats(profile_to)


def __getattr__(name: str):  # type: ignore[no-untyped-def]
    # Granian imports the app by name in its worker: build it there, not at import time.
    if name == "app":
        return build_app()
    raise AttributeError(name)


if __name__ == "__main__":
    main()
