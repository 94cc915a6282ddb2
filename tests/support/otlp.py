"""Spans that servers export over OTLP/HTTP to a real receiver (tests/support/receiver.py's), decoded with
opentelemetry-proto."""

from __future__ import annotations

import gzip
from dataclasses import dataclass

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from tests.support.receiver import Receiver


@dataclass(frozen=True)
class ExportedSpan:
    trace_id: str
    span_id: str
    parent_id: str
    name: str
    role: str  # the exporting process's `vidpulse.role` resource attribute
    pid: int
    attributes: dict[str, object]


def _value(any_value: object) -> object:
    field = any_value.WhichOneof("value")  # type: ignore[attr-defined]
    return getattr(any_value, field) if field else None


def exported_spans(receiver: Receiver) -> list[ExportedSpan]:
    spans: list[ExportedSpan] = []
    for received in list(receiver.requests):
        if received.path != "/v1/traces":
            continue
        body = gzip.decompress(received.body) if received.headers.get("content-encoding") == "gzip" else received.body
        request = ExportTraceServiceRequest.FromString(body)
        for resource_spans in request.resource_spans:
            resource = {a.key: _value(a.value) for a in resource_spans.resource.attributes}
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    spans.append(ExportedSpan(
                        span.trace_id.hex(), span.span_id.hex(), span.parent_span_id.hex(), span.name,
                        str(resource.get("vidpulse.role")), int(str(resource.get("process.pid", 0))),
                        {a.key: _value(a.value) for a in span.attributes}))
    return spans
