"""REST: upload, list, status, results, artifacts, cancel, retry, delete."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from vidpulse.server import schemas
from vidpulse.server.api.files import object_response
from vidpulse.server.api.resources import Resource, answer, is_json, json_body, multipart_body, owner, runtime
from vidpulse.server.errors import Unprocessable

MAX_PAGE = 200
DEFAULT_PAGE = 50


async def create_session(request: Request) -> Response:
    rt = runtime(request)
    rt.check_accepting()
    if is_json(request):
        ingest = await json_body(request, schemas.IngestRequest, '{"url": ..., "options": {...}}')
        if ingest is None:
            raise Unprocessable("The body is not valid JSON.")
        options: dict[str, Any] = {} if ingest.options is None else ingest.options.model_dump(exclude_unset=True)
        follow = rt.live.create if ingest.live else rt.ingest.create
        session = await follow(ingest.url.strip(), options, owner(request))
    else:
        session = await rt.admission.create(multipart_body(request), owner(request))
    document = await rt.queries.document(session)
    return answer(document, 202, {"Location": document.links.self})


async def list_sessions(request: Request) -> Response:
    limit = _int_param(request, "limit", default=DEFAULT_PAGE, low=1, high=MAX_PAGE)
    page = await runtime(request).queries.list_page(owner(request), request.query_params.get("cursor"), limit)
    return answer(page)


async def get_session(request: Request) -> Response:
    queries = runtime(request).queries
    session = await queries.visible(request.path_params["id"], owner(request))
    return answer(await queries.document(session))


async def get_results(request: Request) -> Response:
    report = await runtime(request).queries.results(request.path_params["id"], owner(request))
    return Response(report, media_type="application/json")


async def get_file(request: Request) -> Response:
    rt, name = runtime(request), request.path_params["name"]
    session_id, stored = await rt.queries.artifact(request.path_params["id"], name, owner(request))
    return await object_response(rt.storage, session_id, stored, request.headers.get("range"))


async def cancel_session(request: Request) -> Response:
    rt = runtime(request)
    session = await rt.control.cancel(request.path_params["id"], owner(request))
    return answer(await rt.queries.document(session), 202)


async def stop_session(request: Request) -> Response:
    rt = runtime(request)
    session = await rt.control.stop(request.path_params["id"], owner(request))
    return answer(await rt.queries.document(session), 202)


async def retry_session(request: Request) -> Response:
    rt = runtime(request)
    rt.check_accepting()
    retry = await json_body(request, schemas.RetryRequest, '{"options": {...}}')
    options = None if retry is None or retry.options is None else retry.options.model_dump(exclude_unset=True)
    session = await rt.control.retry(request.path_params["id"], owner(request), options)
    return answer(await rt.queries.document(session), 202)


async def delete_session(request: Request) -> Response:
    await runtime(request).control.delete(request.path_params["id"], owner(request))
    return Response(status_code=204)


def _int_param(request: Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise Unprocessable(f"'{name}' must be a whole number from {low} to {high}.", field=name)
    return int(raw)


routes = [
    Resource("/api/sessions", post=create_session, get=list_sessions),
    Resource("/api/sessions/{id}", get=get_session, delete=delete_session),
    Resource("/api/sessions/{id}/results", get=get_results),
    Resource("/api/sessions/{id}/files/{name:path}", get=get_file),
    Resource("/api/sessions/{id}/cancel", post=cancel_session),
    Resource("/api/sessions/{id}/retry", post=retry_session),
    Resource("/api/sessions/{id}/stop", post=stop_session),
]
