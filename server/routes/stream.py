"""SSE: `GET /api/sessions/{id}/events`."""

from __future__ import annotations

from collections.abc import AsyncIterator

from sse_starlette import EventSourceResponse
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..hub import SubscriberOverflow
from ..subscriptions import Subscription
from . import owner, runtime

RETRY_MS = 3000
# A client that reads nothing for this long has its stream ended; it resumes by Last-Event-ID.
SEND_TIMEOUT_S = 30.0


async def stream_events(request: Request) -> Response:
    rt = runtime(request)
    after = request.headers.get("last-event-id") or request.query_params.get("last_event_id") or None
    subscription = await rt.subscribe(request.path_params["id"], owner(request), after)
    if subscription.nothing_new:
        subscription.close()
        return Response(status_code=204)
    return EventSourceResponse(
        _chunks(subscription),
        ping=rt.settings.sse_ping_s,
        send_timeout=SEND_TIMEOUT_S,
        headers={"Cache-Control": "no-store"},
    )


async def _chunks(subscription: Subscription) -> AsyncIterator[bytes]:
    yield f"retry: {RETRY_MS}\r\n\r\n".encode()
    try:
        async for event in subscription.events():
            yield event.sse
    except SubscriberOverflow:
        return  # the stream ends; the client resumes from its Last-Event-ID


routes = [Route("/api/sessions/{id}/events", stream_events, methods=["GET"])]
