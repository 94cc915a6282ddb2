"""Prometheus metrics, on a registry of the app's own (no process-wide state).

Counters that the code increments live here; gauges that describe current state (sessions by
state, queue depth, subscribers, hub counters) are read at scrape time from the objects that
own that state, so they can never drift from it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from vidpulse.server.models import SessionState

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.jobs_finished = Counter("vidpulse_jobs_finished", "Jobs finished, by outcome", ["outcome"],
                                     registry=self.registry)
        self.analysis_fps = Histogram("vidpulse_analysis_fps", "Frames analysed per second, per job",
                                      buckets=(25, 50, 100, 200, 300, 400, 600, 800, 1200, 2000),
                                      registry=self.registry)
        self.upload_bytes = Counter("vidpulse_upload_bytes", "Bytes of accepted uploads", registry=self.registry)
        self.request_seconds = Histogram("vidpulse_request_duration_seconds", "HTTP request latency by route",
                                         ["method", "route", "status"], registry=self.registry,
                                         buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))
        self.webhooks_delivered = Counter("vidpulse_webhooks_delivered", "Webhook deliveries a receiver accepted",
                                          registry=self.registry)
        self.webhooks_retried = Counter("vidpulse_webhooks_retried", "Webhook attempts failed, to be made again",
                                        registry=self.registry)
        self.webhooks_given_up = Counter("vidpulse_webhooks_given_up", "Webhook deliveries given up on",
                                         registry=self.registry)

        self._state = _StateCollector()
        self.registry.register(self._state)

    def observe_request(self, scope: Mapping[str, Any], status: int, seconds: float) -> None:
        """Latency by route template (not raw path, so session ids do not explode the label set)."""
        if scope["type"] == "http":
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            self.request_seconds.labels(scope["method"], route, str(status or 500)).observe(seconds)

    async def render(self, source: GaugeSource) -> bytes:
        # The source's reading may await (Redis); the sync collector then reports it.
        self._state.reading = await source.gauges()
        return generate_latest(self.registry)


@dataclass(frozen=True)
class Gauges:
    """Current state at scrape time, read from the objects that own it."""

    states: Mapping[str, int]
    queued: int
    workers_alive: int
    subscribers: Mapping[str, int]
    loop_lag_s: float
    task_restarts: Mapping[str, int]
    events_published: int
    events_delivered: int
    events_coalesced: int
    subscribers_overflowed: int


class GaugeSource(Protocol):
    async def gauges(self) -> Gauges: ...


class _StateCollector(Collector):
    def __init__(self) -> None:
        self.reading: Gauges | None = None

    def collect(self) -> Iterable[Metric]:
        reading = self.reading
        if reading is None:
            return
        sessions = GaugeMetricFamily("vidpulse_sessions", "Sessions by state", labels=["state"])
        for state in SessionState:
            sessions.add_metric([state.value], reading.states.get(state.value, 0))
        yield sessions
        yield GaugeMetricFamily("vidpulse_queue_depth", "Jobs waiting for a worker", value=reading.queued)
        yield GaugeMetricFamily("vidpulse_workers_alive", "Worker processes alive", value=reading.workers_alive)
        subscribers = GaugeMetricFamily("vidpulse_subscribers", "Open live subscriptions", labels=["transport"])
        for transport, count in reading.subscribers.items():
            subscribers.add_metric([transport], count)
        yield subscribers
        yield GaugeMetricFamily("vidpulse_event_loop_lag_seconds",
                                "Worst delay of the event loop over the last ~10 s", value=reading.loop_lag_s)
        restarts = CounterMetricFamily("vidpulse_task_restarts", "Background tasks started again after dying",
                                       labels=["task"])
        for task, count in reading.task_restarts.items():
            restarts.add_metric([task], count)
        yield restarts
        for name, value, help_text in (
            ("vidpulse_events_published", reading.events_published, "Events published to live subscribers"),
            ("vidpulse_events_delivered", reading.events_delivered, "Events handed to subscriber connections"),
            ("vidpulse_events_coalesced", reading.events_coalesced, "Progress events merged for slow subscribers"),
            ("vidpulse_subscribers_overflowed", reading.subscribers_overflowed,
             "Subscribers disconnected for falling behind"),
        ):
            yield CounterMetricFamily(name, help_text, value=value)
