"""Liveness, readiness, metrics, the OpenAPI document."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from vidpulse.server.api.openapi import openapi_json
from vidpulse.server.api.resources import Resource, answer, runtime
from vidpulse.server.ops.metrics import CONTENT_TYPE
from vidpulse.server.schemas import Health


async def healthz(request: Request) -> Response:
    return answer(Health(status="ok"))


async def readyz(request: Request) -> Response:
    report = await runtime(request).readiness()
    return answer(report, 200 if report.ready else 503)


async def metrics(request: Request) -> Response:
    rt = runtime(request)
    return Response(await rt.metrics.render(rt), media_type=CONTENT_TYPE)


routes = [
    Resource("/healthz", get=healthz),
    Resource("/readyz", get=readyz),
    Resource("/openapi.json", get=openapi_json),
    Resource("/metrics", get=metrics),
]
