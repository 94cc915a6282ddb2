"""Answers with a stored object's bytes, whole or by Range, from whichever store holds it.

A local file goes out as Starlette's FileResponse. An object in the bucket is proxied: the
bytes pass through this instance, so auth, CORS and the problem documents stay as for every
other route, and a `<video>` can seek (one range per request, the way browsers ask).
"""

from __future__ import annotations

import mimetypes

from starlette.responses import FileResponse, Response, StreamingResponse

from vidpulse.server.errors import BadRequest, NotFound, RangeNotSatisfiable
from vidpulse.server.storage.base import Storage


async def object_response(storage: Storage, session_id: str, name: str, range_header: str | None,
                          media_type: str | None = None) -> Response:
    local = storage.local_path(session_id, name)
    if local is not None:
        check_range(range_header, local.stat().st_size)
        return FileResponse(local, media_type=media_type)
    size = await storage.size(session_id, name)
    if size is None:
        raise NotFound(f"Session {session_id} has no file {name.rsplit('/', 1)[-1]!r}.")
    ranges = check_range(range_header, size)
    headers = {"Accept-Ranges": "bytes"}
    media = media_type or mimetypes.guess_type(name)[0] or "application/octet-stream"
    if len(ranges) != 1:
        # No Range, or several: the whole object (a server may answer a multi-range with 200).
        headers["Content-Length"] = str(size)
        return StreamingResponse(storage.read(session_id, name), media_type=media, headers=headers)
    start, end = ranges[0]
    headers["Content-Range"] = f"bytes {start}-{end - 1}/{size}"
    headers["Content-Length"] = str(end - start)
    return StreamingResponse(storage.read(session_id, name, start, end), status_code=206, media_type=media,
                             headers=headers)


def check_range(header: str | None, size: int) -> list[tuple[int, int]]:
    """The ranges a Range header asks for, as [start, end) within `size`; a bad header is a
    problem document (Starlette's own refusal is plain text)."""
    if header is None:
        return []
    unit, _, spec = header.partition("=")
    if unit.strip().lower() != "bytes" or not spec.strip():
        raise BadRequest("The Range header must look like 'bytes=START-END'.", field="range")
    ranges: list[tuple[int, int]] = []
    for part in spec.split(","):
        start, dash, end = part.strip().partition("-")
        if not dash or not (start.isdigit() or end.isdigit()) or any(v and not v.isdigit() for v in (start, end)):
            raise BadRequest("The Range header must look like 'bytes=START-END'.", field="range")
        if start.isdigit() and (int(start) >= size or (end.isdigit() and int(end) < int(start))):
            raise RangeNotSatisfiable(f"The file has {size} bytes; the range {part.strip()} is outside it.", size)
        if not start:  # the last `end` bytes
            ranges.append((max(0, size - int(end)), size))
        else:
            ranges.append((int(start), min(size, int(end) + 1) if end else size))
    return ranges
