"""`WS /api/ws`: one socket, many sessions.

Client ops: subscribe (with `after` for replay), unsubscribe, cancel. The server sends events in
exactly the SSE shape (the same cached encoding), and `{"type": "error", ...}` in the same
envelope for a bad message; a bad message never closes the other subscriptions. A subscriber
that falls too far behind is closed with 1013 and resubscribes with `after`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json

from pydantic import TypeAdapter, ValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from vidpulse.server.api.resources import Resource, owner, runtime
from vidpulse.server.errors import UpgradeRequired, VidpulseError
from vidpulse.server.models import Event, isoformat, utcnow
from vidpulse.server.runtime import Runtime
from vidpulse.server.schemas import WS_OPS, WsCancel, WsClientMessage, WsError, WsErrorData, WsSubscribe, WsUnsubscribe
from vidpulse.server.streams.hub import SubscriberClosed, SubscriberOverflow
from vidpulse.server.streams.subscriptions import Subscription

MAX_MESSAGE_BYTES = 16 * 1024
MAX_SUBSCRIPTIONS = 256
CLOSE_TOO_SLOW = 1013
CLOSE_TRY_AGAIN = 1012


def error_message(code: str, message: str, session: str | None = None, op: str | None = None) -> str:
    return WsError(id=None, session=session, type="error", ts=isoformat(utcnow()) or "",
                   data=WsErrorData(code=code, message=message, op=op)).model_dump_json()


_CLIENT_MESSAGE = TypeAdapter(WsClientMessage)


def _first_problem(exc: ValidationError) -> str:
    error = exc.errors()[0]
    where = ".".join(str(part) for part in error["loc"][1:]) or "message"
    return f"'{where}': {error['msg']}."


class Connection:
    def __init__(self, websocket: WebSocket, rt: Runtime) -> None:
        self.websocket = websocket
        self.runtime = rt
        self.owner = owner(websocket)
        self.subscriptions: dict[str, asyncio.Task[None]] = {}
        # The connection owns every subscription it opens: a pump task cancelled before its
        # first step never runs its own cleanup, so release happens here, on every path.
        self._opened: set[Subscription] = set()
        self._send_lock = asyncio.Lock()
        self._closing = False
        self._close_task: asyncio.Task[None] | None = None

    async def serve(self) -> None:
        await self.websocket.accept()
        try:
            while not self._closing:
                message = await self.websocket.receive()
                if message["type"] == "websocket.disconnect":
                    return
                await self.handle(message.get("text") or (message.get("bytes") or b"").decode("utf-8", "replace"))
        except WebSocketDisconnect:
            return
        finally:
            for task in self.subscriptions.values():
                task.cancel()
            for subscription in self._opened:
                subscription.close()
            self._opened.clear()

    async def handle(self, raw: str) -> None:
        if len(raw.encode()) > MAX_MESSAGE_BYTES:
            await self.send(error_message("too_large", f"Messages are limited to {MAX_MESSAGE_BYTES} bytes."))
            return
        try:
            message = json.loads(raw)
        except ValueError:
            message = None
        if not isinstance(message, dict):
            await self.send(error_message("bad_message", "Messages must be JSON objects."))
            return
        op, session_id = message.get("op"), message.get("session")
        if op not in WS_OPS:
            await self.send(error_message("unknown_op", f"Unknown op {op!r}: use {', '.join(WS_OPS)}.",
                                          session_id if isinstance(session_id, str) else None, str(op)))
            return
        try:
            parsed = _CLIENT_MESSAGE.validate_python(message).root
        except ValidationError as exc:
            await self.send(error_message("bad_message", _first_problem(exc), session_id
                                          if isinstance(session_id, str) else None, op))
            return
        try:
            await getattr(self, f"op_{op}")(parsed)
        except VidpulseError as exc:
            await self.send(error_message(exc.slug, exc.detail, parsed.session, op))

    async def op_subscribe(self, message: WsSubscribe) -> None:
        session_id, after = message.session, message.after
        if session_id not in self.subscriptions and len(self.subscriptions) >= MAX_SUBSCRIPTIONS:
            await self.send(error_message("too_many", f"At most {MAX_SUBSCRIPTIONS} subscriptions per socket.",
                                          session_id, "subscribe"))
            return
        subscription = await self.runtime.queries.subscribe(session_id, self.owner, after, transport="ws")
        self._opened.add(subscription)
        self._stop(session_id)
        task = asyncio.create_task(self._pump(subscription))
        self.subscriptions[session_id] = task
        task.add_done_callback(lambda t: self._release(session_id, t, subscription))

    async def op_unsubscribe(self, message: WsUnsubscribe) -> None:
        self._stop(message.session)

    async def op_cancel(self, message: WsCancel) -> None:
        await self.runtime.control.cancel(message.session, self.owner)

    def _stop(self, session_id: str) -> None:
        task = self.subscriptions.pop(session_id, None)
        if task is not None:
            task.cancel()

    def _release(self, session_id: str, task: asyncio.Task[None], subscription: Subscription) -> None:
        subscription.close()
        self._opened.discard(subscription)
        if self.subscriptions.get(session_id) is task:
            del self.subscriptions[session_id]

    async def _pump(self, subscription: Subscription) -> None:
        try:
            await subscription.deliver(self._write)
        except SubscriberOverflow:
            self.close(CLOSE_TOO_SLOW, f"too slow for {subscription.session_id}; resubscribe with after")
        except SubscriberClosed:
            self.close(CLOSE_TRY_AGAIN, "the server is restarting or lost its backend; reconnect with after")
        except (WebSocketDisconnect, RuntimeError, OSError):
            self.close(CLOSE_TOO_SLOW, "send failed")

    async def _write(self, batch: list[Event]) -> None:
        for event in batch:
            await self.send(event.json)

    async def send(self, text: str) -> None:
        # uvicorn waits here while the socket is paused, so a client that stops reading blocks
        # only this connection, and its hub queue (bounded, progress merged) absorbs the rest.
        async with self._send_lock:
            await self.websocket.send_text(text)

    def close(self, code: int, reason: str) -> None:
        """Close from a subscription task; the reader loop then sees the disconnect and ends."""
        if not self._closing:
            self._closing = True
            self._close_task = asyncio.create_task(self._close(code, reason[:120]))

    async def _close(self, code: int, reason: str) -> None:
        with contextlib.suppress(Exception):
            await self.websocket.close(code, reason)


async def websocket_endpoint(websocket: WebSocket) -> None:
    await Connection(websocket, runtime(websocket)).serve()


async def needs_upgrade(request: Request) -> Response:
    raise UpgradeRequired("This path only answers a WebSocket upgrade (Upgrade: websocket).")


# The plain-HTTP route of the same path: a GET without the upgrade is a 426, not a 404.
routes = [WebSocketRoute("/api/ws", websocket_endpoint), Resource("/api/ws", get=needs_upgrade)]
