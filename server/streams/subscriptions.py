"""One subscription to one session's events: the same for SSE and WebSocket.

Order of delivery: a `snapshot` (no id; its `last_event_id` says what it covers, and it carries the
scenes logged up to there), then the logged events after the client's starting id exactly as logged,
then live events. The live queue is
registered before the snapshot is taken, and any live event the replay already covered is skipped
by id, so nothing is missed or doubled even when the backend suspends between the steps.

Connections (SSE and WebSocket) use `deliver`: while a connection keeps up, its live events are
written from `Hub.publish` itself, so one event reaches a thousand subscribers without a thousand
task wakes; internal followers use `events`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from vidpulse.server import schemas
from vidpulse.server.backends.protocols import EventLog
from vidpulse.server.errors import BadRequest
from vidpulse.server.models import Event, EventType, Session, SessionState, event_order
from vidpulse.server.streams.eager import Rest, step
from vidpulse.server.streams.hub import Hub, Subscriber


@dataclass(eq=False)  # one object per subscription: compared and hashed by identity
class Subscription:
    session_id: str
    snapshot: Event
    replay: list[Event]
    covered: str | None
    nothing_new: bool  # finished, and the client had every logged event already
    _subscriber: Subscriber
    _hub: Hub

    async def events(self) -> AsyncIterator[Event]:
        """Yields until a terminal event; raises SubscriberOverflow when the client fell behind."""
        async for batch in self.batches():
            for event in batch:
                yield event

    async def batches(self) -> AsyncIterator[list[Event]]:
        """Like `events`, but hands over everything queued at once: a client that falls behind
        catches up in one write instead of one per event."""
        try:
            opening, ended = self._opening()
            for batch in opening:
                yield batch
            unseen = _Unseen(self.covered)
            while not ended:
                first = await self._subscriber.get()
                batch, ended = _through_terminal(unseen.of([first, *self._subscriber.drain()]))
                if batch:
                    yield batch
        finally:
            self.close()

    async def deliver(self, write: Write) -> None:
        """Sends the snapshot, the replay, then live events through `write` until the terminal
        event; raises SubscriberOverflow or SubscriberClosed like `batches`."""
        try:
            opening, ended = self._opening()
            for batch in opening:
                await write(batch)
            live = _LiveWrites(self._subscriber, write, self.covered)
            while not ended:
                ended = await live.next_round()
        finally:
            self.close()

    def _opening(self) -> tuple[list[list[Event]], bool]:
        """The snapshot, then the replay up to its end (if any), as batches; and whether the
        replay ended the stream."""
        replay, ended = _through_end(self.replay)
        return [[self.snapshot], *([replay] if replay else [])], ended

    def close(self) -> None:
        """Idempotent; whoever opened the subscription calls it on every path."""
        self._hub.unsubscribe(self._subscriber)


# Writes a batch of events to one connection.
Write = Callable[[list[Event]], Coroutine[Any, Any, None]]


class _LiveWrites:
    """The live part of `Subscription.deliver`, and the subscriber's sink.

    While nothing is queued, `Hub.publish` calls this object with each event, and it runs `write`
    right there (server/streams/eager.py): an ASGI send finishes at once unless the socket is paused. The
    connection's task sleeps meanwhile; it wakes only when a write has to wait (it then finishes
    that write, and sends what queued meanwhile, merged by the hub, in one batch), when the stream
    ends, or when a write failed."""

    def __init__(self, subscriber: Subscriber, write: Write, covered: str | None) -> None:
        self._subscriber = subscriber
        self._write = write
        self._unseen = _Unseen(covered)
        self._rest: Rest | None = None
        self._error: Exception | None = None
        self._ended = False

    async def next_round(self) -> bool:
        """Deliver until the hub has to queue again; True once the terminal event went out."""
        batch, ended = _through_terminal(self._unseen.of(self._subscriber.take()))
        if batch:
            await self._write(batch)
            return ended
        if not self._subscriber.attach(self):
            return False  # done: the next `take` raises
        try:
            await self._subscriber.wait()
        except BaseException:
            if self._rest is not None:
                self._rest.close()
            raise
        finally:
            self._subscriber.detach()
        rest, self._rest = self._rest, None
        if rest is not None:
            await rest
        if self._error is not None:
            raise self._error
        return self._ended

    def __call__(self, event: Event) -> None:
        if self._unseen.covered is not None and not self._unseen.of([event]):
            return
        try:
            self._rest = step(self._write([event]))
        except Exception as exc:  # a broken connection: its task ends the stream
            self._error = exc
        self._ended = event.type.terminal
        if self._rest is not None or self._error is not None or self._ended:
            self._subscriber.detach()
            self._subscriber.wake()


class _Unseen:
    """Drops the live events that the snapshot and replay already covered. Events arrive in order,
    so once a newer one has passed, nothing needs checking any more (`covered` becomes None)."""

    def __init__(self, covered: str | None) -> None:
        self.covered = event_order(covered) if covered else None

    def of(self, batch: list[Event]) -> list[Event]:
        if self.covered is None:
            return batch
        covered = self.covered
        kept = [e for e in batch if e.id is None or event_order(e.id) > covered]
        if any(e.id is not None for e in kept):
            self.covered = None
        return kept


def _through_terminal(batch: list[Event]) -> tuple[list[Event], bool]:
    """The batch up to and including its terminal event, and whether it had one."""
    for index, event in enumerate(batch):
        if event.type.terminal:
            return batch[: index + 1], True
    return batch, False


SnapshotLoader = Callable[[], Awaitable[tuple[Session, schemas.Session]]]

# Before the first `started` and while a new attempt waits, no analysis has found anything yet.
_NO_ATTEMPT = frozenset({SessionState.UPLOADING, SessionState.QUEUED})


async def open_subscription(log: EventLog, hub: Hub, session_id: str, load: SnapshotLoader,
                            after: str | None, transport: str) -> Subscription:
    """Registers the live queue and has the backend follow the session first, and only then
    loads the snapshot: every event is either covered by the snapshot and replay, or arrives live."""
    if after is not None:
        try:
            event_order(after)
        except ValueError as exc:
            raise BadRequest(f"{after!r} is not an event id of this stream.", field="last_event_id") from exc
    subscriber = hub.subscribe(session_id, transport)
    try:
        await log.watch(session_id)
        session, document = await load()
        covered = session.last_event_id
        # One read of the log serves the snapshot's scenes, the replay and the terminal event.
        whole = session.state not in _NO_ATTEMPT  # every finished state included
        logged = await log.events_after(session.id, None if whole else after)
        scenes = _scenes_so_far(logged, covered) if whole else []
        snapshot = Event.create(None, session.id, EventType.SNAPSHOT,
                                schemas.Snapshot(**dict(document), scenes=scenes).model_dump(mode="json"))
        replay = [e for e in logged if _between(e, after, covered)] if after is not None else []
        nothing_new = session.state.finished and after is not None and not replay
        if session.state.finished and not (replay and replay[-1].type.terminal):
            # Even when the snapshot already shows the end, the terminal event is sent, so
            # every subscription ends the same way. (If the state was saved but the event is
            # not logged yet, it arrives live.)
            terminal = logged[-1] if logged and logged[-1].type.terminal else None
            last = event_order(replay[-1].id or "0") if replay else (-1, -1)
            if terminal is not None and event_order(terminal.id or "0") > last:
                replay.append(terminal)
        if replay:
            covered = max(covered or "0", replay[-1].id or "0", key=event_order)
    except BaseException:
        hub.unsubscribe(subscriber)
        raise
    return Subscription(session.id, snapshot, replay, covered, nothing_new, subscriber, hub)


def _between(event: Event, after: str, covered: str | None) -> bool:
    """Whether a logged event is replayed: after the client's starting id, and covered by the snapshot."""
    position = event_order(event.id or "0")
    return position > event_order(after) and (covered is None or position <= event_order(covered))


def _scenes_so_far(logged: list[Event], covered: str | None) -> list[schemas.SceneData]:
    """The current attempt's `scene` events up to `covered` (their data), the log read from its start.

    An attempt opens with `started`; a `queued` after it means the session waits for a new attempt
    (a retry, or a job run again after its worker died), whose scenes are still to come."""
    scenes: list[schemas.SceneData] = []
    if covered is None:
        return scenes
    upto = event_order(covered)
    for event in logged:
        if event_order(event.id or "0") > upto:
            break
        if event.type in (EventType.STARTED, EventType.QUEUED):
            scenes = []
        elif event.type is EventType.SCENE:
            scenes.append(schemas.SceneData.model_validate(event.data))
    return scenes


def _through_end(replay: list[Event]) -> tuple[list[Event], bool]:
    """A replay up to the terminal event that ends the log: an earlier one was followed by a new
    attempt (a client's retry), so the stream goes on past it."""
    others = [index for index, event in enumerate(replay) if not event.type.terminal]
    end = others[-1] + 1 if others else 0
    return (replay[: end + 1], True) if end < len(replay) else (replay, False)
