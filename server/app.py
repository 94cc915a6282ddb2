"""`create_app(settings)`: routes, middleware, and the lifespan that owns all state."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

from vidpulse.server.api import legacy, ops, sessions, stream, tus, webhooks, ws
from vidpulse.server.api.auth import AuthMiddleware
from vidpulse.server.api.middleware import RequestContextMiddleware
from vidpulse.server.api.problems import EXCEPTION_HANDLERS
from vidpulse.server.api.resources import Resource
from vidpulse.server.config import Settings
from vidpulse.server.ops.metrics import Metrics
from vidpulse.server.ops.tracing import Tracing
from vidpulse.server.runtime import Runtime
from vidpulse.server.uploads.resumable import TUS_REQUEST_HEADERS, TUS_RESPONSE_HEADERS


def static_dir(settings: Settings) -> Path:
    # Beside the `server` package both in a checkout and after `pip install .` (package data).
    return settings.static_dir or Path(__file__).resolve().parent.parent / "static"


def create_app(settings: Settings | None = None) -> Starlette:
    settings = settings or Settings.from_env()
    static = static_dir(settings)

    metrics = Metrics()
    tracing = Tracing(role="api" if settings.workers == 0 else "server")

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, object]]:
        runtime = await Runtime.start(settings, metrics, tracing)
        try:
            yield {"runtime": runtime}
        finally:
            await runtime.stop()

    async def index(request: Request) -> Response:
        return FileResponse(static / "index.html", headers={"Cache-Control": "no-cache"})

    routes = [
        Resource("/", get=index),
        *sessions.routes,
        *webhooks.routes,
        *tus.routes,
        *stream.routes,
        *ws.routes,
        *legacy.routes,
        *ops.routes,
        Mount("/static", app=StaticFiles(directory=static, check_dir=False), name="static"),
    ]
    middleware = [Middleware(RequestContextMiddleware, observe=metrics.observe_request),
                  Middleware(AuthMiddleware, api_keys=settings.api_keys)]
    if settings.cors_origins:
        middleware.insert(0, Middleware(CORSMiddleware, allow_origins=list(settings.cors_origins),
                                        allow_methods=["GET", "POST", "DELETE", "HEAD", "PATCH"],
                                        allow_headers=["Authorization", "Content-Type", "Last-Event-ID",
                                                       *TUS_REQUEST_HEADERS],
                                        expose_headers=["Location", "Retry-After", *TUS_RESPONSE_HEADERS]))
    if tracing.enabled:  # outermost: a request's span covers everything the server does for it
        middleware.insert(0, Middleware(OpenTelemetryMiddleware, tracer_provider=tracing.provider,
                                        excluded_urls="healthz,readyz,metrics"))
    return Starlette(routes=routes, middleware=middleware,
                     exception_handlers=EXCEPTION_HANDLERS,
                     lifespan=lifespan)
