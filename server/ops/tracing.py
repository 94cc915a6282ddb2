"""Traces: OpenTelemetry, configured by the standard `OTEL_*` variables only.

With `OTEL_EXPORTER_OTLP_ENDPOINT` (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) set, spans go to that
collector over OTLP/HTTP in batches; without it every span is a no-op and nothing is exported. The
provider belongs to the `Tracing` object its process creates (the app, a worker host, a worker
process), never to OpenTelemetry's global: each instrumentation is handed it.

One trace per session: the upload request's context is kept with the session as a W3C `traceparent`
(`Session.trace`), and the job, its worker process and every webhook attempt continue it, on
whichever host runs them."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping
from datetime import datetime

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import Span, SpanKind
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from opentelemetry.util.types import Attributes

ENDPOINTS = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
_PROPAGATOR = TraceContextTextMapPropagator()


class Tracing:
    def __init__(self, environ: Mapping[str, str] = os.environ, role: str = "server") -> None:
        self.provider: TracerProvider | None = None
        if any(environ.get(name) for name in ENDPOINTS):
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            # Resource.create adds OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES; the exporter reads
            # the endpoint, headers and timeout from the environment itself.
            resource = Resource.create({"service.name": environ.get("OTEL_SERVICE_NAME", "vidpulse"),
                                        "vidpulse.role": role, "process.pid": os.getpid()})
            self.provider = TracerProvider(resource=resource, shutdown_on_exit=False)
            self.provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        self.tracer = (self.provider or trace.NoOpTracerProvider()).get_tracer("vidpulse")

    @property
    def enabled(self) -> bool:
        return self.provider is not None

    @contextlib.contextmanager
    def span(self, name: str, parent: str | None = None, start: datetime | None = None,
             kind: SpanKind = SpanKind.INTERNAL, attributes: Attributes = None) -> Iterator[Span]:
        """A span, child of `parent` (a traceparent) when given, else of the current span; it is the
        current span inside the block."""
        ctx = context_of(parent) if parent else None
        start_ns = int(start.timestamp() * 1e9) if start is not None else None
        with self.tracer.start_as_current_span(name, context=ctx, kind=kind, start_time=start_ns,
                                               attributes=attributes) as span:
            yield span

    def flush(self) -> None:
        if self.provider is not None:
            self.provider.force_flush()

    def shutdown(self) -> None:
        if self.provider is not None:
            self.provider.shutdown()


def current_traceparent() -> str | None:
    """The current span's context as a W3C traceparent, to carry across a queue or a process."""
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier)
    return carrier.get("traceparent")


def context_of(traceparent: str) -> Context:
    return _PROPAGATOR.extract({"traceparent": traceparent})


@contextlib.contextmanager
def continued(traceparent: str | None) -> Iterator[None]:
    """Makes `traceparent` the current context inside the block (for work that makes no span of its
    own, so that what it logs and sends still names the session's trace)."""
    if not traceparent:
        yield
        return
    token = otel_context.attach(context_of(traceparent))
    try:
        yield
    finally:
        otel_context.detach(token)


def trace_ids() -> dict[str, str]:
    """The current trace and span ids as hex, for log lines; empty outside a trace."""
    span_context = trace.get_current_span().get_span_context()
    if not span_context.is_valid:
        return {}
    return {"trace_id": format(span_context.trace_id, "032x"), "span_id": format(span_context.span_id, "016x")}
