"""The real app with the fan-out levers of issue 17 that are measured before they go into server/:
`bench/fanout.py --variant ...` runs this instead of `vidpulse serve`.

    python bench/fanout_server.py --stream plain|sse-starlette --server uvicorn|granian

`--stream plain`: the SSE route answers with `PlainEventStream`, a bare ASGI response: the request's
own task pumps the subscription's batches straight into `send`, and one small task per connection
waits for the disconnect and writes the keep-alive pings. No sse-starlette task group, no anyio
cancel scopes, no body generator between the subscription and `send`. Everything else (headers,
retry line, Last-Event-ID replay, 204 when nothing is new, subscription released on every path)
is as in server/routes/stream.py.

`--server granian`: the same app under Granian's ASGI interface (`pip install granian`; not a
dependency of the project), one worker, with the app's lifespan.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
from pathlib import Path

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Message, Receive, Scope, Send

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from vidpulse.server.app import create_app  # noqa: E402
from vidpulse.server.config import Settings  # noqa: E402
from vidpulse.server.hub import SubscriberClosed, SubscriberOverflow  # noqa: E402
from vidpulse.server.routes import owner, runtime  # noqa: E402
from vidpulse.server.routes.stream import RETRY_MS  # noqa: E402
from vidpulse.server.subscriptions import Subscription  # noqa: E402

_HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-store"),
    (b"connection", b"keep-alive"),
    (b"x-accel-buffering", b"no"),
]
_PING = b": ping\r\n\r\n"


class PlainEventStream(Response):
    """SSE for one subscription as a bare ASGI response; owns (and always releases) it."""

    def __init__(self, subscription: Subscription, ping_s: float) -> None:
        self.subscription = subscription
        self.ping_s = ping_s
        self.status_code = 200
        self.background = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        watcher: asyncio.Task[None] | None = None
        try:
            await send({"type": "http.response.start", "status": 200, "headers": list(_HEADERS)})
            if scope.get("method") == "HEAD":
                await send({"type": "http.response.body", "body": b"", "more_body": False})
                return
            watcher = asyncio.get_running_loop().create_task(self._watch(receive, send))
            await send({"type": "http.response.body", "body": f"retry: {RETRY_MS}\r\n\r\n".encode(),
                        "more_body": True})
            with contextlib.suppress(SubscriberOverflow, SubscriberClosed):
                async for batch in self.subscription.batches():
                    body = batch[0].sse if len(batch) == 1 else b"".join(event.sse for event in batch)
                    await send({"type": "http.response.body", "body": body, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            if watcher is not None:
                watcher.cancel()
            self.subscription.close()

    async def _watch(self, receive: Receive, send: Send) -> None:
        """Ends the subscription when the client goes (its pump then wakes and returns), and
        keeps idle connections alive through proxies with a comment line every `ping_s`."""
        while True:
            try:
                message: Message = await asyncio.wait_for(receive(), self.ping_s)
            except TimeoutError:
                await send({"type": "http.response.body", "body": _PING, "more_body": True})
                continue
            if message["type"] == "http.disconnect":
                self.subscription.close()
                return


async def plain_stream_events(request: Request) -> Response:
    rt = runtime(request)
    after = request.headers.get("last-event-id") or request.query_params.get("last_event_id") or None
    subscription = await rt.service.subscribe(request.path_params["id"], owner(request), after)
    if subscription.nothing_new:
        subscription.close()
        return Response(status_code=204)
    return PlainEventStream(subscription, rt.settings.sse_ping_s)


def build_app(stream: str):  # type: ignore[no-untyped-def]
    app = create_app(Settings.from_env())
    if stream == "plain":
        for index, route in enumerate(app.router.routes):
            if isinstance(route, Route) and route.path == "/api/sessions/{id}/events":
                app.router.routes[index] = Route(route.path, plain_stream_events, methods=["GET"])
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stream", choices=("plain", "sse-starlette"), default="plain")
    parser.add_argument("--server", choices=("uvicorn", "granian"), default="uvicorn")
    args = parser.parse_args()
    settings = Settings.from_env()
    from vidpulse.server.logs import configure_logging

    configure_logging(settings.log_level)
    if args.server == "granian":
        from granian.constants import Interfaces, Loops
        from granian.server import Server

        Server(f"fanout_server:app_{args.stream.replace('-', '_')}", address=settings.host, port=settings.port,
               interface=Interfaces.ASGI, workers=1, loop=Loops.uvloop, log_enabled=False,
               websockets=True).serve()
        return
    import uvicorn

    def serve() -> None:
        uvicorn.run(build_app(args.stream), host=settings.host, port=settings.port, log_config=None,
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
    if name.startswith("app_"):
        return build_app(name[4:].replace("_", "-"))
    raise AttributeError(name)


if __name__ == "__main__":
    main()
