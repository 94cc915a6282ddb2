"""SSE: `GET /api/sessions/{id}/events`."""

from __future__ import annotations

from collections.abc import AsyncIterator

from sse_starlette import EventSourceResponse
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from vidpulse.server.api.resources import Resource, owner, runtime
from vidpulse.server.models import Event
from vidpulse.server.streams.hub import SubscriberClosed, SubscriberOverflow
from vidpulse.server.streams.subscriptions import Subscription

RETRY_MS = 3000


class EventStream(EventSourceResponse):
    """sse-starlette runs the exchange (headers, pings, the client's disconnect, the server's
    shutdown, the end); the events themselves go straight to `send` through
    `Subscription.deliver`, most of them written from the hub's publish without waking this
    stream's task, and none through sse-starlette's body loop and its per-send machinery.

    A client that stops reading blocks only its own stream (uvicorn applies TCP back-pressure)
    while its hub queue stays bounded and merges progress. The response owns the subscription and
    releases it however the exchange ends (HEAD, a client gone before the body starts, ...)."""

    def __init__(self, subscription: Subscription, ping_s: float) -> None:
        super().__init__(self._body(), ping=ping_s, headers={"Cache-Control": "no-store"})
        self.subscription = subscription
        self._send: Send | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self._send = send
        try:
            await super().__call__(scope, receive, send)
        finally:
            self.subscription.close()

    async def _body(self) -> AsyncIterator[bytes]:
        yield f"retry: {RETRY_MS}\r\n\r\n".encode()
        try:
            await self.subscription.deliver(self._write)
        except (SubscriberOverflow, SubscriberClosed):
            return  # the stream ends cleanly; the client resumes from its Last-Event-ID

    async def _write(self, batch: list[Event]) -> None:
        assert self._send is not None  # the body only runs inside __call__
        body = batch[0].sse if len(batch) == 1 else b"".join(event.sse for event in batch)
        await self._send({"type": "http.response.body", "body": body, "more_body": True})


async def stream_events(request: Request) -> Response:
    rt = runtime(request)
    after = request.headers.get("last-event-id") or request.query_params.get("last_event_id") or None
    subscription = await rt.queries.subscribe(request.path_params["id"], owner(request), after)
    if subscription.nothing_new:
        subscription.close()
        return Response(status_code=204)
    return EventStream(subscription, rt.settings.sse_ping_s)


routes = [Resource("/api/sessions/{id}/events", get=stream_events)]
