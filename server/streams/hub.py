"""Live fan-out of events to subscribers, each with its own bounded queue.

A subscriber that falls behind gets its queued `progress` events merged (latest wins); no
other event type is ever dropped. One that still cannot keep up is marked overflowed and its
stream ends, so the client reconnects and replays from the log. Publishing never awaits, so a
slow subscriber can neither slow the job nor delay the others.

A subscriber whose connection keeps up can have a sink attached instead: while its queue is empty,
`publish` hands each event straight to the sink, which writes it without waiting (see
`Subscription.deliver`), so an event reaches a thousand connections without a thousand task wakes.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from vidpulse.server.models import Event, EventType

# Takes one live event; called from `Hub.publish`, so it must not block or raise.
Sink = Callable[[Event], None]


class SubscriberOverflow(Exception):
    """The subscriber fell too far behind; it must reconnect and replay from the log."""


class SubscriberClosed(Exception):
    """The server closed the subscription (shutdown, backend lost); the client resumes later."""


@dataclass
class HubStats:
    published: int = 0
    delivered: int = 0
    coalesced: int = 0
    overflowed: int = 0


class Subscriber:
    def __init__(self, session_id: str, maxsize: int, stats: HubStats, transport: str = "sse") -> None:
        self.session_id = session_id
        self.transport = transport
        self._maxsize = max(2, maxsize)
        self._items: deque[Event] = deque()
        self._ready = asyncio.Event()
        self._stats = stats
        self._sink: Sink | None = None
        self.overflowed = False
        self.closed = False

    def push(self, event: Event) -> None:
        if self.closed or self.overflowed:
            return
        if self._sink is not None and not self._items:
            self._stats.delivered += 1
            self._sink(event)
            return
        if len(self._items) >= self._maxsize:
            if self._drop_oldest_progress():
                self._stats.coalesced += 1
            elif event.type is EventType.PROGRESS:
                # Only non-progress events are queued: a later progress restates this one.
                self._stats.coalesced += 1
                return
            else:
                self.overflowed = True
                self._stats.overflowed += 1
                self._ready.set()
                return
        self._items.append(event)
        self._ready.set()

    def _drop_oldest_progress(self) -> bool:
        for index, queued in enumerate(self._items):
            if queued.type is EventType.PROGRESS:
                del self._items[index]
                return True
        return False

    async def get(self) -> Event:
        while not self._items:
            if self.overflowed:
                raise SubscriberOverflow
            if self.closed:
                raise SubscriberClosed
            self._ready.clear()
            await self._ready.wait()
        self._stats.delivered += 1
        return self._items.popleft()

    def take(self) -> list[Event]:
        """Everything queued, without waiting; raises once nothing is queued and it is done."""
        if not self._items:
            if self.overflowed:
                raise SubscriberOverflow
            if self.closed:
                raise SubscriberClosed
        return self.drain()

    def drain(self) -> list[Event]:
        """Everything queued right now, without waiting (for batched sends)."""
        items = list(self._items)
        self._items.clear()
        self._stats.delivered += len(items)
        return items

    def attach(self, sink: Sink) -> bool:
        """Have `push` hand events to `sink` while nothing is queued, until `detach`. Refused
        (False) while events are queued or the subscriber is done: drain first."""
        if self._items or self.overflowed or self.closed:
            return False
        self._sink = sink
        self._ready.clear()
        return True

    def detach(self) -> None:
        self._sink = None

    async def wait(self) -> None:
        """Until `wake` or `close`: a subscriber with a sink attached waits here."""
        await self._ready.wait()

    def wake(self) -> None:
        self._ready.set()

    def close(self) -> None:
        self.closed = True
        self._sink = None
        self._ready.set()


class Hub:
    def __init__(self, queue_size: int) -> None:
        self._queue_size = queue_size
        self._subscribers: dict[str, set[Subscriber]] = {}
        self.stats = HubStats()

    def subscribe(self, session_id: str, transport: str = "sse") -> Subscriber:
        subscriber = Subscriber(session_id, self._queue_size, self.stats, transport)
        self._subscribers.setdefault(session_id, set()).add(subscriber)
        return subscriber

    def unsubscribe(self, subscriber: Subscriber) -> None:
        subscriber.close()
        peers = self._subscribers.get(subscriber.session_id)
        if peers is not None:
            peers.discard(subscriber)
            if not peers:
                del self._subscribers[subscriber.session_id]

    def publish(self, event: Event) -> None:
        self.stats.published += 1
        for subscriber in tuple(self._subscribers.get(event.session, ())):
            subscriber.push(event)

    def count(self, session_id: str | None = None) -> int:
        if session_id is not None:
            return len(self._subscribers.get(session_id, ()))
        return sum(len(peers) for peers in self._subscribers.values())

    def by_transport(self) -> dict[str, int]:
        counts = {"sse": 0, "ws": 0, "internal": 0}
        for peers in self._subscribers.values():
            for subscriber in peers:
                counts[subscriber.transport] = counts.get(subscriber.transport, 0) + 1
        return counts

    def close_all(self) -> None:
        for peers in list(self._subscribers.values()):
            for subscriber in list(peers):
                self.unsubscribe(subscriber)
