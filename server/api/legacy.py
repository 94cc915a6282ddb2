"""`POST /analyze/video`: the synchronous endpoint older clients use (upload, wait, report)."""

from __future__ import annotations

import json

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from vidpulse.server.api.resources import Resource, multipart_body, owner, runtime
from vidpulse.server.errors import Conflict, Unprocessable
from vidpulse.server.models import SessionState


async def analyze_video(request: Request) -> Response:
    rt = runtime(request)
    rt.check_accepting()
    session = await rt.admission.create(multipart_body(request), owner(request))
    try:
        session = await rt.queries.wait_finished(session.id, owner(request))
        if session.state is SessionState.FAILED:
            error = session.error
            raise Unprocessable(error.message if error else "The video could not be analysed.",
                                code=error.code if error else None)
        if session.state is not SessionState.SUCCEEDED:
            raise Conflict("The analysis was cancelled before it finished.", state=session.state.value)
        report = json.loads(await rt.queries.report(session))
    finally:
        # The synchronous endpoint keeps nothing: its caller has no session id to clean up with.
        await rt.control.delete(session.id, owner(request))
    return JSONResponse(report, headers={"X-Vidpulse-Session": session.id})


routes = [Resource("/analyze/video", post=analyze_video)]
