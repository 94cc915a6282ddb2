"""Following a session's events over SSE across dropped connections and server restarts.

`Resume` is the state both clients share: what was seen last (the `Last-Event-ID` of the next
connection), whether the terminal event came, and how long to wait before the next try.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import httpx
from pydantic import BaseModel, RootModel

from vidpulse.server.models import EventType, event_order
from vidpulse.server.schemas import EVENT_DATA

from .errors import VidpulseError
from .retry import Backoff

# The server pings idle streams every SSE_PING_S (15 s by default): a longer silence is a dead connection.
READ_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class Event:
    """One event of a session's log. `id` is None only on the first event, a `snapshot` of the
    session as it was when watching began; `data` is the event type's model (Snapshot for the
    snapshot: the Session with the scenes found so far, Progress or UploadProgress for progress,
    SessionError for failed, ...)."""

    id: str | None
    type: EventType
    session: str
    ts: str
    data: BaseModel

    @property
    def terminal(self) -> bool:
        return self.type.terminal

    @classmethod
    def parse(cls, raw: str) -> Event:
        body: dict[str, Any] = json.loads(raw)
        kind = EventType(body["type"])
        data = EVENT_DATA[kind].model_validate(body["data"])
        # A RootModel (ProgressData) only wraps a union of models for the schema: the caller gets
        # the model inside, so that `event.data.stage` reads as it does on every other event.
        return cls(body["id"], kind, body["session"], body["ts"], data.root if isinstance(data, RootModel) else data)


class Resume:
    def __init__(self, reconnect_for_s: float) -> None:
        self.backoff = Backoff(reconnect_for_s, "the event stream")
        self.last_id: str | None = None
        self.done = False
        self._snapshot_seen = False
        self._started_over = False

    def headers(self) -> dict[str, str]:
        return {"Last-Event-ID": self.last_id} if self.last_id is not None else {}

    def opened(self, response: httpx.Response) -> bool:
        """Whether to read this response's events. A 4xx (no such session, a wrong key) is final;
        a 5xx is worth another try.

        204: the session ended and nothing was logged after `Last-Event-ID`. The terminal event
        (which ends the watch) was not seen, so that id was the snapshot's, and the snapshot covers
        the terminal event: the connection broke between the two. A connection without
        `Last-Event-ID` brings it (after its snapshot, see `accept`): start over, once; a second
        204 ends the watch without it."""
        if response.status_code == 204:
            self.done = self._started_over
            self.last_id, self._started_over = None, True
            return False
        if response.is_success:
            self.backoff.reset()
            return True
        if response.status_code >= 500 or response.status_code in (408, 429):
            return False
        response.read()
        raise VidpulseError.from_response(response)

    def accept(self, event_name: str, data: str) -> Event | None:
        """The event to hand to the caller, or None for what it has seen already (a later
        connection's snapshot, an event replayed twice) and for the stream's retry block."""
        if not event_name or event_name == "message":
            return None
        event = Event.parse(data)
        if event.id is None:
            if self.last_id is None:
                self.last_id = getattr(event.data, "last_event_id", None)
            if self._snapshot_seen:
                return None
            self._snapshot_seen = True
            return event
        # On a finished session the server ends each stream with the terminal event, even when the
        # snapshot covers it (server/subscriptions.py, open_subscription): it is never a repeat,
        # since the first one ends the watch.
        if not event.terminal and self.last_id is not None and event_order(event.id) <= event_order(self.last_id):
            return None
        self.last_id = event.id
        self.done = event.terminal
        return event
