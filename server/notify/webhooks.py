"""Webhooks: a signed POST when a session ends (and, for a live session with the option
notify_incidents, when an incident opens or closes), retried until the receiver takes it.

The scheme is Standard Webhooks (https://www.standardwebhooks.com), so receivers can verify with
its libraries: headers `webhook-id` (the same on every attempt, for the receiver's idempotency),
`webhook-timestamp` (of the attempt, so retries hours later still pass the receiver's replay
window) and `webhook-signature` (`v1,` + base64 HMAC-SHA256 of `id.timestamp.body`).

Deliveries live in the backend's store (deliveries.py) before the first attempt, so a restart or
a crashed instance loses none; instances take due deliveries with a lease, so one delivers each.
Invariant: a delivery's id is derived from what it announces (a session's end: its run and the attempt
that ended it; an incident: its id and state), so recording the same announcement again, on any host,
never sends it twice.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from dataclasses import replace
from typing import Any, Protocol

import httpx
from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

from vidpulse.processing import AnalysisOptions
from vidpulse.processing.live.options import LiveOptions
from vidpulse.server.backends.fencing import fence
from vidpulse.server.config import ConfigError, Settings
from vidpulse.server.errors import Unprocessable
from vidpulse.server.models import Session, isoformat, utcnow
from vidpulse.server.notify.records import (
    FINISH_TYPES,
    Attempt,
    Delivery,
    Standing,
    WebhookStore,
    delivery_id,
    standing,
)
from vidpulse.server.notify.signing import parse_secret, signed_headers
from vidpulse.server.ops.metrics import Metrics
from vidpulse.server.ops.supervise import LoopFunction
from vidpulse.server.ops.tracing import Tracing, current_traceparent
from vidpulse.server.outbound import OutboundRefused, check_url, outbound_client
from vidpulse.server.schemas import (
    DeliveryState,
    IncidentData,
    IncidentNotice,
    IncidentType,
    IncidentWebhookPayload,
    WebhookAttemptList,
    WebhookPayload,
    WebhookTarget,
    WebhookType,
)
from vidpulse.server.schemas import Session as SessionDocument

log = logging.getLogger("vidpulse.webhooks")

CALLBACK_OPTION = "callback_url"
INCIDENTS_OPTION = "notify_incidents"
# Longer than one attempt can take (WEBHOOK_TIMEOUT_S is below it), so a lease only lapses when its instance is gone.
LEASE_S = 60.0
MAX_DELAY_S = 86_400.0
_IDLE_POLL_S = 5.0
_CONCURRENCY = 8

# A finish webhook recorded just before its attempt's save is looked at again this much later.
_UNSAVED_RECHECK_S = 2.0


class SessionReader(Protocol):
    """Where a delivery's session is read as saved (the backend's session store)."""

    async def get(self, session_id: str) -> Session | None: ...


def backoff_s(retry_s: float, failed_attempts: int) -> float:
    """Exponential from WEBHOOK_RETRY_S, with jitter (half fixed, half random) so receivers that
    come back are not hit by every retry at once."""
    delay = min(MAX_DELAY_S, retry_s * 2 ** (failed_attempts - 1))
    return delay / 2 + random.uniform(0, delay / 2)


# The service -----------------------------------------------------------------------------------

class Webhooks:
    """Records deliveries when sessions end, and delivers those that are due, on every instance."""

    def __init__(self, settings: Settings, store: WebhookStore, sessions: SessionReader, metrics: Metrics,
                 tracing: Tracing) -> None:
        self.settings = settings
        self.store = store
        self.sessions = sessions
        self.metrics = metrics
        self.tracing = tracing
        self.key = parse_secret(settings.webhook_secret) if settings.webhook_secret else None
        self._client: httpx.AsyncClient | None = None
        self._wake = asyncio.Event()

    async def start(self) -> None:
        await self.store.start()
        self._client = outbound_client(allow_private=self.settings.allow_private_urls,
                                       timeout=self.settings.webhook_timeout_s)
        if self.tracing.enabled:
            HTTPXClientInstrumentor.instrument_client(self._client, tracer_provider=self.tracing.provider)

    def loops(self) -> dict[str, LoopFunction]:
        """The delivery loop, for the runtime's supervisor (stopped before `stop`)."""
        return {"webhooks": self._deliver_forever}

    async def stop(self) -> None:
        try:
            await self.store.release()  # an attempt cut short is made again at once, here or elsewhere
        except Exception:
            log.warning("could not give back webhook leases; they lapse in %g s", LEASE_S, exc_info=True)
        if self._client is not None:
            await self._client.aclose()
        await self.store.close()

    # Recording -----------------------------------------------------------------------------

    async def check_callback(self, url: Any) -> str | None:
        """The `callback_url` option, checked at upload: a 422 naming the field when refused."""
        if url is None:
            return None
        name = f"options.{CALLBACK_OPTION}"
        if not isinstance(url, str) or not url:
            raise Unprocessable(f"{CALLBACK_OPTION} must be a URL.", field=name)
        if self.key is None:
            raise Unprocessable(f"This server has no WEBHOOK_SECRET, so it cannot sign a {CALLBACK_OPTION}.",
                                field=name)
        try:
            await check_url(url, allow_private=self.settings.allow_private_urls)
        except OutboundRefused as exc:
            raise Unprocessable(f"{CALLBACK_OPTION} is refused: {exc}", field=name) from exc
        return url

    def check_incidents(self, options: AnalysisOptions, callback_url: str | None) -> None:
        """The option notify_incidents, checked at ingest: a 422 naming it when no webhook could be sent."""
        if not (isinstance(options, LiveOptions) and options.notify_incidents):
            return
        name = f"options.{INCIDENTS_OPTION}"
        if self.key is None:
            raise Unprocessable(f"This server has no WEBHOOK_SECRET, so it cannot sign the webhooks of "
                                f"{INCIDENTS_OPTION}.", field=name)
        if not (self.settings.webhook_url or callback_url):
            raise Unprocessable(f"{INCIDENTS_OPTION} needs a webhook: this server has no WEBHOOK_URL, so give "
                                f"the session a {CALLBACK_OPTION}.", field=name)

    async def check_incidents_of(self, session_id: str, options: AnalysisOptions) -> None:
        """As `check_incidents`, for new options of a session that exists (a retry), with its own callback_url."""
        self.check_incidents(options, await self.store.callback(session_id))

    async def register(self, session_id: str, callback_url: str | None) -> None:
        if callback_url is not None:
            await self.store.set_callback(session_id, callback_url)

    async def session_finished(self, session: Session) -> None:
        """Record (before any attempt) one delivery per URL for a session that has just ended."""
        kind = FINISH_TYPES.get(session.state)
        if kind is None or self.key is None:
            return
        now = isoformat(utcnow()) or ""
        body = WebhookPayload(type=kind, timestamp=now, data=SessionDocument.of(session)).model_dump_json(by_alias=True)
        await self._record(session, kind, body, now, job_attempt=fence(session.id))

    async def incident_changed(self, session: Session, incident: IncidentData) -> None:
        """A live session's incident opened or closed (its event is logged): one delivery per URL, when
        the session asked for them (notify_incidents). Recording the same incident's state again (a host
        that takes the session over records its earlier ones once more) is a no-op."""
        if self.key is None or not (isinstance(session.options, LiveOptions) and session.options.notify_incidents):
            return
        kind: IncidentType = (WebhookType.INCIDENT_OPENED if incident.state == "open"
                              else WebhookType.INCIDENT_CLOSED)
        now = isoformat(utcnow()) or ""
        body = IncidentWebhookPayload(type=kind, timestamp=now, data=IncidentNotice(
            session=session.id, incident=incident)).model_dump_json(by_alias=True)
        await self._record(session, kind, body, now, subject=f"incident:{incident.id}:{incident.state}")

    async def _record(self, session: Session, kind: WebhookType, body: str, now: str, *,
                      job_attempt: int | None = None, subject: str = "") -> None:
        """One delivery per URL. `job_attempt`: the attempt recording it, when it must wait for that
        attempt's terminal save (records.standing); an incident is logged before it is recorded, so it
        is sent as it is."""
        targets = [(WebhookTarget.WEBHOOK_URL, self.settings.webhook_url),
                   (WebhookTarget.CALLBACK_URL, await self.store.callback(session.id))]
        deliveries = [Delivery(delivery_id(session.id, target, session.run_from, job_attempt, subject), session.id,
                               target, url, kind, body, now, time.time(), trace=session.trace, job_attempt=job_attempt)
                      for target, url in targets if url]
        if deliveries:
            await self.store.add(deliveries)
            self._wake.set()

    async def attempts(self, session_id: str) -> WebhookAttemptList:
        deliveries = await self.store.for_session(session_id)
        items = [item for d in deliveries for item in d.attempt_documents()]
        return WebhookAttemptList(items=sorted(items, key=lambda item: item.at))

    # Delivering ----------------------------------------------------------------------------

    async def _deliver_forever(self) -> None:
        """Up to _CONCURRENCY attempts at once; a receiver that hangs holds one slot, not the others."""
        inflight: set[asyncio.Task[None]] = set()
        try:
            while True:
                self._wake.clear()  # before looking: a delivery recorded from here on wakes the wait below
                free = _CONCURRENCY - len(inflight)
                try:
                    claimed = await self.store.claim(time.time(), LEASE_S, free) if free else []
                    next_due = None if claimed or not free else await self.store.next_due()
                except Exception:
                    log.warning("webhook store unavailable; deliveries wait", exc_info=True)
                    claimed, next_due = [], None
                for delivery in claimed:
                    task = asyncio.create_task(self._attempt(delivery), name=f"webhook-{delivery.id}")
                    inflight.add(task)
                    task.add_done_callback(inflight.discard)
                if claimed:
                    continue
                wait = _IDLE_POLL_S if next_due is None else max(0.0, min(_IDLE_POLL_S, next_due - time.time()))
                woken = asyncio.create_task(self._wake.wait())
                await asyncio.wait({woken, *inflight}, timeout=wait, return_when=asyncio.FIRST_COMPLETED)
                woken.cancel()
        finally:
            for task in inflight:
                task.cancel()
            await asyncio.gather(*inflight, return_exceptions=True)

    async def _attempt(self, delivery: Delivery) -> None:
        assert self._client is not None and self.key is not None
        fate = await self._standing(delivery)
        if fate is not Standing.SEND:
            await self._settle(replace(delivery, state=DeliveryState.SUPERSEDED) if fate is Standing.SUPERSEDED
                               else replace(delivery, due_at=time.time() + _UNSAVED_RECHECK_S))
            return
        number = len(delivery.attempts) + 1
        started = time.monotonic()
        with self.tracing.span("webhook delivery", parent=delivery.trace, attributes={
                "vidpulse.session": delivery.session, "vidpulse.webhook.attempt": number}):
            status, error = await self._post(delivery)
        attempt = Attempt(number, isoformat(utcnow()) or "", status, error,
                          round((time.monotonic() - started) * 1000))
        ok = status is not None and 200 <= status < 300
        if ok:
            state, due = DeliveryState.DELIVERED, delivery.due_at
            self.metrics.webhooks_delivered.inc()
        elif number >= self.settings.webhook_max_attempts:
            state, due = DeliveryState.GAVE_UP, delivery.due_at
            self.metrics.webhooks_given_up.inc()
            log.warning("webhook %s for %s given up after %d attempts: %s", delivery.id, delivery.session,
                        number, error or status)
        else:
            state, due = DeliveryState.PENDING, time.time() + backoff_s(self.settings.webhook_retry_s, number)
            self.metrics.webhooks_retried.inc()
        await self._settle(replace(delivery, state=state, due_at=due, attempts=(*delivery.attempts, attempt)))

    async def _standing(self, delivery: Delivery) -> Standing:
        if delivery.job_attempt is None:
            return Standing.SEND
        try:
            return standing(delivery, await self.sessions.get(delivery.session))
        except Exception:
            log.warning("could not read session %s; its webhook waits", delivery.session, exc_info=True)
            return Standing.WAIT

    async def _settle(self, delivery: Delivery) -> None:
        try:
            await self.store.settle(delivery)
        except Exception:
            # The lease lapses and the attempt is made again: at least once, never lost.
            log.warning("could not record webhook attempt %s", delivery.id, exc_info=True)

    async def _post(self, delivery: Delivery) -> tuple[int | None, str | None]:
        assert self._client is not None and self.key is not None
        body = delivery.body.encode()
        headers = signed_headers(self.key, delivery.id, int(time.time()), body)
        traceparent = current_traceparent()  # the receiver may continue the session's trace
        if traceparent:
            headers["traceparent"] = traceparent
        try:
            response = await self._client.post(delivery.url, content=body, headers=headers,
                                               follow_redirects=False)
        except OutboundRefused as exc:
            return None, str(exc)
        except httpx.TimeoutException:
            return None, f"no answer within {self.settings.webhook_timeout_s:g} s"
        except httpx.HTTPError as exc:
            return None, f"{type(exc).__name__}: {exc}"[:300]
        ok = 200 <= response.status_code < 300
        return response.status_code, None if ok else f"HTTP {response.status_code}"


async def startup_problem(settings: Settings) -> str | None:
    """Why the webhook settings cannot work, in one line, or None: checked before the service starts."""
    try:
        if settings.webhook_secret:
            parse_secret(settings.webhook_secret)
    except ConfigError as exc:
        return str(exc)
    if not settings.webhook_url:
        return None
    if not settings.webhook_secret:
        return "WEBHOOK_URL is set but WEBHOOK_SECRET is not: webhooks are always signed."
    try:
        await check_url(settings.webhook_url, allow_private=settings.allow_private_urls)
    except OutboundRefused as exc:
        return f"WEBHOOK_URL is refused: {exc} (ALLOW_PRIVATE_URLS=1 permits it)"
    return None
