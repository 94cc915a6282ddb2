"""SSE: `GET /api/sessions/{id}/events`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from sse_starlette import EventSourceResponse
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Message, Receive, Scope, Send

from ..hub import SubscriberClosed, SubscriberOverflow
from ..subscriptions import Subscription
from . import Resource, owner, runtime

RETRY_MS = 3000


class EventStream(EventSourceResponse):
    """sse-starlette's response without its per-send cancel scope, which cost more than the send
    itself at a few thousand subscribers. A client that stops reading blocks only its own stream
    (uvicorn applies TCP back-pressure) while its hub queue stays bounded and merges progress.

    The response owns the subscription and releases it however the exchange ends: the body
    generator's own `finally` never runs when the body is never started (HEAD, a client gone
    before the first chunk, a cancellation before the first step)."""

    def __init__(self, content: AsyncIterator[bytes], subscription: Subscription | None = None,
                 **kwargs: Any) -> None:
        super().__init__(content, **kwargs)
        self.subscription = subscription

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            if self.subscription is not None:
                self.subscription.close()

    async def _send_with_timeout(self, send: Send, message: Message) -> None:
        await send(message)


async def stream_events(request: Request) -> Response:
    rt = runtime(request)
    after = request.headers.get("last-event-id") or request.query_params.get("last_event_id") or None
    subscription = await rt.service.subscribe(request.path_params["id"], owner(request), after)
    if subscription.nothing_new:
        subscription.close()
        return Response(status_code=204)
    return EventStream(_chunks(subscription), subscription, ping=rt.settings.sse_ping_s,
                       headers={"Cache-Control": "no-store"})


async def _chunks(subscription: Subscription) -> AsyncIterator[bytes]:
    yield f"retry: {RETRY_MS}\r\n\r\n".encode()
    try:
        async for batch in subscription.batches():
            yield batch[0].sse if len(batch) == 1 else b"".join(event.sse for event in batch)
    except (SubscriberOverflow, SubscriberClosed):
        return  # the stream ends cleanly; the client resumes from its Last-Event-ID


routes = [Resource("/api/sessions/{id}/events", get=stream_events)]
