"""tus 1.0.0 at /api/uploads (server/uploads/resumable.py does the work): thin handlers, plus the protocol's
`Tus-Resumable` header on every answer, refusals included."""

from __future__ import annotations

import functools
import re

from starlette.requests import Request
from starlette.responses import Response

from vidpulse.server.api.problems import problem_response
from vidpulse.server.api.resources import Handler, Resource, owner, runtime
from vidpulse.server.errors import BadRequest, PreconditionFailed, VidpulseError
from vidpulse.server.uploads.resumable import TUS_VERSION, Checksum, UploadState, parse_int_header

_EXPOSED = {"Tus-Resumable": TUS_VERSION}
_VERSION = re.compile(r"^[0-9]+\.[0-9]+\.[0-9]+$")


def tus(handler: Handler) -> Handler:
    @functools.wraps(handler)
    async def wrapped(request: Request) -> Response:
        try:
            version = request.headers.get("tus-resumable", "").strip()
            if request.method != "OPTIONS" and version != TUS_VERSION:
                if not _VERSION.match(version):
                    raise BadRequest(f"Send Tus-Resumable: {TUS_VERSION} with every tus request.",
                                     field="tus-resumable")
                # tus: another version is a 412 that names the one spoken here.
                raise PreconditionFailed(f"This server speaks tus {TUS_VERSION}, not {version}.",
                                         headers={"Tus-Version": TUS_VERSION})
            response = await handler(request)
        except VidpulseError as exc:
            response = problem_response(exc.status, exc.detail, exc.slug, exc.headers, **exc.extra)
        response.headers.update(_EXPOSED)
        return response

    return wrapped


@tus
async def options(request: Request) -> Response:
    return Response(status_code=204, headers=runtime(request).tus.capabilities())


@tus
async def create(request: Request) -> Response:
    rt = runtime(request)
    rt.check_accepting()
    session, state = await rt.tus.create(owner(request), request.headers.get("upload-length"),
                                         request.headers.get("upload-metadata"), request.headers.get("content-type"),
                                         request.stream(), Checksum.parse(request.headers.get("upload-checksum")))
    headers = {"Location": f"/api/uploads/{session.id}", **state.headers()}
    return Response(status_code=201, headers=headers)


@tus
async def head(request: Request) -> Response:
    state = await runtime(request).tus.head(request.path_params["id"], owner(request))
    headers = state.headers()
    if state.metadata:
        headers["Upload-Metadata"] = state.metadata
    return Response(status_code=200, headers={**headers, "Cache-Control": "no-store"})


@tus
async def patch(request: Request) -> Response:
    headers = request.headers
    offset = parse_int_header(headers.get("upload-offset"), "Upload-Offset")
    session = await runtime(request).tus.patch(
        request.path_params["id"], owner(request), offset, headers.get("content-type"),
        headers.get("content-length"), request.stream(), Checksum.parse(headers.get("upload-checksum")))
    return Response(status_code=204, headers=UploadState.of(session).headers())


@tus
async def terminate(request: Request) -> Response:
    await runtime(request).tus.terminate(request.path_params["id"], owner(request))
    return Response(status_code=204)


async def overridden(request: Request) -> Response:
    """`X-HTTP-Method-Override` for clients behind proxies that drop PATCH and DELETE."""
    method = request.headers.get("x-http-method-override", "").upper()
    if method == "PATCH":
        return await patch(request)
    if method == "DELETE":
        return await terminate(request)
    return problem_response(400, "POST on an upload needs X-HTTP-Method-Override: PATCH or DELETE.",
                            field="x-http-method-override", headers=_EXPOSED)


routes = [
    Resource("/api/uploads", options=options, post=create),
    Resource("/api/uploads/{id}", head=head, patch=patch, delete=terminate, post=overridden),
]
