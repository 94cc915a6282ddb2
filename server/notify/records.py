"""A webhook delivery and its attempts, as recorded, and the store that keeps them (deliveries.py)."""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Protocol

from vidpulse.server.models import Session, SessionState, isoformat
from vidpulse.server.schemas import DeliveryState, EndedType, WebhookAttempt, WebhookTarget, WebhookType


@dataclass(frozen=True)
class Attempt:
    number: int
    at: str
    status_code: int | None
    error: str | None
    duration_ms: int


@dataclass(frozen=True)
class Delivery:
    """One payload for one URL, tried until delivered or WEBHOOK_MAX_ATTEMPTS attempts have failed.

    The body is encoded once: every attempt sends the same bytes under the same id."""

    id: str
    session: str
    target: WebhookTarget
    url: str
    type: WebhookType
    body: str
    created_at: str
    due_at: float  # epoch seconds of the next attempt
    state: DeliveryState = DeliveryState.PENDING
    attempts: tuple[Attempt, ...] = field(default=())
    trace: str | None = None  # the session's traceparent: each attempt is a span of its trace
    # The job attempt that recorded it (None: the API did, outside any attempt): sent only once the
    # session's saved state is this attempt's (`standing`).
    job_attempt: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Delivery:
        return cls(**{**raw, "target": WebhookTarget(raw["target"]), "type": WebhookType(raw["type"]),
                      "state": DeliveryState(raw["state"]),
                      "attempts": tuple(Attempt(**a) for a in raw["attempts"])})

    def attempt_documents(self) -> list[WebhookAttempt]:
        """The public listing: one item per attempt, with where the delivery stands now."""
        next_at = isoformat_epoch(self.due_at) if self.state is DeliveryState.PENDING else None
        return [WebhookAttempt(webhook_id=self.id, type=self.type, target=self.target, attempt=a.number, at=a.at,
                               status_code=a.status_code, error=a.error, duration_ms=a.duration_ms,
                               delivery_state=self.state,
                               next_attempt_at=next_at if a.number == len(self.attempts) else None)
                for a in self.attempts]


def delivery_id(session_id: str, target: WebhookTarget, run: int = 1, job_attempt: int | None = None,
                subject: str = "") -> str:
    """Derived, not random: recording the same attempt's delivery twice (a retried finish) is one
    delivery; a client's retry starts a new run, and a takeover a new attempt, each with its own.
    `subject`: what else the delivery announces (a live session's incident, in one state: its id
    carries the attempt's number, so it is unique across runs and attempts)."""
    key = f"{session_id}:{target.value}" + (f":{run}" if run > 1 else "") + (
        f"@{job_attempt}" if job_attempt is not None else "") + (f":{subject}" if subject else "")
    return "msg_" + hashlib.sha256(key.encode()).hexdigest()[:32]


class Standing(StrEnum):
    SEND = "send"
    WAIT = "wait"  # recorded just before its attempt's fenced save, which has not landed (yet)
    SUPERSEDED = "superseded"  # its attempt's save was refused: a newer attempt will record its own


def standing(delivery: Delivery, current: Session | None) -> Standing:
    """Whether a finish webhook may go out, judged by the session as saved now.

    An attempt records its delivery before the fenced save of its terminal state (a crash in between
    must not lose the webhook), so the record alone does not say the state landed: it did once the
    session is saved finished, as the type says, by the same attempt. A deleted session sends."""
    if delivery.job_attempt is None or current is None:
        return Standing.SEND
    if current.attempts != delivery.job_attempt:
        return Standing.SUPERSEDED if current.attempts > delivery.job_attempt else Standing.WAIT
    if not current.state.finished:
        return Standing.WAIT
    return Standing.SEND if FINISH_TYPES.get(current.state) is delivery.type else Standing.SUPERSEDED


FINISH_TYPES: dict[SessionState, EndedType] = {
    SessionState.SUCCEEDED: WebhookType.SUCCEEDED, SessionState.FAILED: WebhookType.FAILED,
    SessionState.CANCELLED: WebhookType.CANCELLED}


def isoformat_epoch(seconds: float) -> str | None:
    return isoformat(datetime.fromtimestamp(seconds, UTC))


class WebhookStore(Protocol):
    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def set_callback(self, session_id: str, url: str) -> None: ...

    async def callback(self, session_id: str) -> str | None: ...

    async def add(self, deliveries: list[Delivery]) -> None:
        """Record new deliveries, due at once; one that exists already (same id) is kept as it is."""

    async def claim(self, now: float, lease_s: float, limit: int) -> list[Delivery]:
        """Up to `limit` due deliveries, leased to this instance for `lease_s`."""

    async def settle(self, delivery: Delivery) -> None:
        """Store a claimed delivery's new state and end its lease; pending ones fall due at `due_at`."""

    async def release(self) -> None:
        """Give back this instance's leases (it is stopping): their deliveries are due again at once."""

    async def next_due(self) -> float | None: ...

    async def for_session(self, session_id: str) -> list[Delivery]: ...
