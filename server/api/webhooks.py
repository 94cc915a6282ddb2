"""The webhook attempts made for one session."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from vidpulse.server.api.resources import Resource, answer, owner, runtime


async def list_attempts(request: Request) -> Response:
    rt = runtime(request)
    session = await rt.queries.visible(request.path_params["id"], owner(request))
    return answer(await rt.webhooks.attempts(session.id))


routes = [Resource("/api/sessions/{id}/webhooks", get=list_attempts)]
