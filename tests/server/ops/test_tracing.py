"""OpenTelemetry: one upload on two hosts (an API instance and a worker host over Redis) is one trace,
exported over OTLP/HTTP to a real receiver and decoded with opentelemetry-proto."""

from __future__ import annotations

import secrets
import time

import pytest

from tests.support.client import upload_ok, wait_state
from tests.support.otlp import ExportedSpan, exported_spans
from tests.support.receiver import new_secret, running_receiver

pytestmark = [pytest.mark.slow, pytest.mark.redis]


def _wait_spans(receiver, trace_id: str, names: set[str], timeout: float = 30) -> list[ExportedSpan]:
    deadline = time.monotonic() + timeout
    while True:
        spans = [s for s in exported_spans(receiver) if s.trace_id == trace_id]
        if names <= {s.name for s in spans} or time.monotonic() > deadline:
            return spans
        time.sleep(0.2)


def test_one_upload_on_two_hosts_is_one_trace(start_server, redis_server, clip, tmp_path):
    with running_receiver() as collector, running_receiver() as hooks:
        tracing = {"OTEL_EXPORTER_OTLP_ENDPOINT": collector.url.removesuffix("/hooks"),
                   "OTEL_BSP_SCHEDULE_DELAY": 100, "OTEL_SERVICE_NAME": "vidpulse-test"}
        shared = {"BACKEND": "redis", "REDIS_URL": redis_server.url(), "WEBHOOK_URL": hooks.url,
                  "WEBHOOK_SECRET": new_secret(), "ALLOW_PRIVATE_URLS": 1, **tracing}
        data = tmp_path / "data"  # local storage: the hosts share DATA_DIR (docs/deployment.md)
        api = start_server(data_dir=data, WORKERS=0, **shared)
        start_server(data_dir=data, command="worker", WORKERS=1, **shared)
        trace_id, parent = secrets.token_hex(16), secrets.token_hex(8)
        client = api.client(headers={"traceparent": f"00-{trace_id}-{parent}-01"})
        session = upload_ok(client, clip.path, {"max_frames": 40})
        done = wait_state(client, session["id"], {"succeeded", "failed"})
        assert done["state"] == "succeeded", done["error"]
        hook = hooks.wait_for(1)[0]
        assert hook.headers["traceparent"].split("-")[1] == trace_id

        wanted = {"job", "queue", "fetch", "analysis", "stage analyze", "store artifacts", "webhook delivery"}
        spans = _wait_spans(collector, trace_id, wanted)
        by_name = {s.name: s for s in spans}
        assert wanted <= set(by_name), sorted(by_name)
        upload = next(s for s in spans if s.parent_id == parent)  # the request that honoured our traceparent
        assert upload.role == "api"
        job = by_name["job"]
        assert job.role == "worker-host" and job.parent_id == upload.span_id
        for name in ("queue", "fetch", "analysis", "store artifacts"):
            assert by_name[name].parent_id == job.span_id, name
        analysis = by_name["analysis"]
        assert analysis.pid != job.pid  # the worker process exports its own spans
        assert by_name["stage analyze"].parent_id == analysis.span_id
        assert by_name["webhook delivery"].parent_id == upload.span_id
        assert any(s.attributes.get("db.system") == "redis" for s in spans)  # the standard instrumentation
        assert all(s.attributes.get("vidpulse.session") == session["id"]
                   for s in (job, analysis, by_name["webhook delivery"]))
        # A log line leads to its trace.
        logged = [r for r in api.log_records() if r.get("session") == session["id"]]
        assert logged and all(r.get("trace_id") == trace_id for r in logged if "trace_id" in r)
        assert any(r.get("trace_id") == trace_id for r in logged)


def test_without_an_endpoint_nothing_is_exported(start_server, clip):
    with running_receiver() as hooks:
        server = start_server(WEBHOOK_URL=hooks.url, WEBHOOK_SECRET=new_secret(), ALLOW_PRIVATE_URLS=1)
        trace_id = secrets.token_hex(16)
        client = server.client(headers={"traceparent": f"00-{trace_id}-{secrets.token_hex(8)}-01"})
        session = upload_ok(client, clip.path, {"max_frames": 20})
        wait_state(client, session["id"], {"succeeded"})
        hook = hooks.wait_for(1)[0]
        assert "traceparent" not in hook.headers
        assert not [r for r in server.log_records() if "trace_id" in r]
