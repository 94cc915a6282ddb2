"""Where the server's CPU per delivered event goes: the fan-out path taken apart, layer by layer.

    .venv/bin/python bench/fanout_micro.py [--subscribers 1000] [--events 200]

One process, uvloop, the real `Hub` and `Subscription`, N real TCP connections over loopback
whose other ends a child process drains. Each variant publishes the same events and reports the
CPU time of this process per delivered event (CPU, not wall time: steadier on a shared machine):

1. `write`: `transport.write` of each event's bytes to every connection in one loop: the floor
   (the kernel's loopback send, paid by the sender);
2. `direct`: the hub calls each subscriber's writer synchronously on publish (no task wakes);
3. `task-bare`: one task per subscriber woken by the hub (`Subscriber.get` and `drain`), one
   write a batch: the cost of waking a task per subscriber;
4. `task`: as 3, through `Subscription.batches()` (the plain ASGI path of
   bench/fanout_server.py, without the ASGI layers);
5. `task+asgi`: as 4, through five `send` wrappers as deep as the app's middleware stack and
   uvicorn's chunked framing (the SSE route before `Subscription.deliver`, minus sse-starlette);
6. `deliver`: `Subscription.deliver`, what the SSE and WebSocket routes use: the hub steps each
   subscriber's `send` on publish (server/streams/eager.py), no task wakes while the connections keep up;
7. `deliver+asgi`: as 6, through the five wrappers and the chunked framing.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import socket
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import uvloop

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from vidpulse.server.models import Event, EventType  # noqa: E402
from vidpulse.server.streams.hub import Hub, Subscriber, SubscriberClosed  # noqa: E402
from vidpulse.server.streams.subscriptions import Subscription  # noqa: E402

SESSION = "s_bench"
Send = Callable[[dict[str, Any]], Awaitable[None]]


def _drain(port: int, count: int) -> None:
    """The child: open `count` connections and read them until they close."""
    import selectors

    selector = selectors.DefaultSelector()
    for _ in range(count):
        sock = socket.create_connection(("127.0.0.1", port))
        sock.setblocking(False)
        selector.register(sock, selectors.EVENT_READ)
    open_ = count
    while open_:
        for key, _ in selector.select():
            try:
                data = key.fileobj.recv(1 << 16)  # type: ignore[union-attr]
            except BlockingIOError:
                continue
            if not data:
                selector.unregister(key.fileobj)
                key.fileobj.close()  # type: ignore[union-attr]
                open_ -= 1
    os._exit(0)


class _Sink(asyncio.Protocol):
    def __init__(self, accepted: asyncio.Queue[asyncio.Transport]) -> None:
        self.accepted = accepted

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.accepted.put_nowait(transport)  # type: ignore[arg-type]


async def _connections(count: int) -> tuple[list[asyncio.Transport], int]:
    loop = asyncio.get_running_loop()
    accepted: asyncio.Queue[asyncio.Transport] = asyncio.Queue()
    server = await loop.create_server(lambda: _Sink(accepted), "127.0.0.1", 0, backlog=4096)
    port = server.sockets[0].getsockname()[1]
    child = os.fork()
    if child == 0:
        _drain(port, count)
    transports = [await accepted.get() for _ in range(count)]
    server.close()
    return transports, child


def _events(n: int) -> list[Event]:
    return [Event.create(str(i + 1), SESSION, EventType.PROGRESS,
                         {"stage": "analyze", "frame": i, "total_frames": n, "fraction": i / n, "fps": 512.3,
                          "eta_s": 1.5}) for i in range(n)]


def _layers(transport: asyncio.Transport, depth: int) -> Send:
    """uvicorn's chunked body framing under `depth` pass-through wrappers, like the middleware."""

    async def raw(message: dict[str, Any]) -> None:
        body = message["body"]
        transport.write(b"".join((b"%x\r\n" % len(body), body, b"\r\n")))

    send: Send = raw
    for _ in range(depth):
        send = _wrap(send)
    return send


def _wrap(inner: Send) -> Send:
    async def wrapper(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            message.setdefault("headers", [])
        await inner(message)

    return wrapper


class _DirectSubscriber:
    """A subscriber that writes on publish while its connection keeps up, and queues (to be
    sent by a task, not modelled here) only while the transport is paused: no task wakes."""

    def __init__(self, transport: asyncio.Transport) -> None:
        self.transport = transport
        self.backlog: list[Event] = []
        self.closed = False

    def push(self, event: Event, framed: bytes) -> None:
        if self.closed:
            return
        if self.backlog or self.transport.get_write_buffer_size() > 65536:
            self.backlog.append(event)
            return
        self.transport.write(framed)


async def _bare(subscriber: Subscriber, transport: asyncio.Transport) -> None:
    try:
        while True:
            first = await subscriber.get()
            rest = subscriber.drain()
            transport.write(first.sse if not rest else b"".join(e.sse for e in (first, *rest)))
    except SubscriberClosed:
        pass


async def _pump(subscription: Subscription, send: Send) -> None:
    try:
        async for batch in subscription.batches():
            body = batch[0].sse if len(batch) == 1 else b"".join(e.sse for e in batch)
            await send({"type": "http.response.body", "body": body, "more_body": True})
    except SubscriberClosed:
        pass


async def _deliver(subscription: Subscription, send: Send) -> None:
    async def write(batch: list[Event]) -> None:
        body = batch[0].sse if len(batch) == 1 else b"".join(e.sse for e in batch)
        await send({"type": "http.response.body", "body": body, "more_body": True})

    with contextlib.suppress(SubscriberClosed):
        await subscription.deliver(write)


async def run(variant: str, subscribers: int, events: list[Event], gap_s: float) -> float:
    transports, child = await _connections(subscribers)
    hub = Hub(queue_size=64)
    snapshot = Event.create(None, SESSION, EventType.SNAPSHOT, {})
    tasks: list[asyncio.Task[None]] = []
    if variant.startswith(("task", "deliver")):
        depth = 5 if variant.endswith("+asgi") else 0
        for transport in transports:
            subscriber = hub.subscribe(SESSION)
            if variant == "task-bare":
                tasks.append(asyncio.create_task(_bare(subscriber, transport)))
                continue
            subscription = Subscription(SESSION, snapshot, [], None, False, subscriber, hub)
            pump = _deliver if variant.startswith("deliver") else _pump
            tasks.append(asyncio.create_task(pump(subscription, _layers(transport, depth))))
        await asyncio.sleep(0.2)  # every pump waiting on its queue
    direct = [_DirectSubscriber(t) for t in transports] if variant == "direct" else []
    started = time.process_time()
    for event in events:
        if variant == "write":
            for transport in transports:
                transport.write(event.sse)
        elif variant == "direct":
            framed = b"".join((b"%x\r\n" % len(event.sse), event.sse, b"\r\n"))  # once per event
            for subscriber in direct:
                subscriber.push(event, framed)
        else:
            hub.publish(event)
        await asyncio.sleep(gap_s)
    cpu = time.process_time() - started
    hub.close_all()
    for task in tasks:
        task.cancel()
    for transport in transports:
        transport.close()
    await asyncio.sleep(0.1)
    await asyncio.to_thread(os.waitpid, child, 0)
    return cpu / (len(events) * subscribers) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--subscribers", type=int, default=1000)
    parser.add_argument("--events", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--gap-ms", type=float, default=20.0, help="between published events")
    args = parser.parse_args()
    import resource

    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    events = _events(args.events)
    variants = ("write", "direct", "task-bare", "task", "task+asgi", "deliver", "deliver+asgi")
    results: dict[str, list[float]] = {v: [] for v in variants}
    for _ in range(args.rounds):
        for variant in variants:
            results[variant].append(uvloop.run(run(variant, args.subscribers, events, args.gap_ms / 1000)))
    print(f"\n{args.subscribers} subscribers, {args.events} events, least of {args.rounds} interleaved rounds; "
          f"load average {os.getloadavg()[0]:.1f}\n")
    print("| path | server CPU us / delivered event |\n|---|---|")
    for variant, values in results.items():
        print(f"| {variant} | {min(values):.1f} (rounds {', '.join(f'{v:.1f}' for v in values)}) |")


if __name__ == "__main__":
    main()
