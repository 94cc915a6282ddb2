"""A real third-party SSE client against a real server: `eventsource` (npm, a WHATWG EventSource
for Node) follows sessions to their end, reconnects across a server restart with its
Last-Event-ID, and stops for good at the 204 the server answers when nothing is left."""

from __future__ import annotations

import threading
from typing import Any

from tests.support.client import follow, upload_ok, wait_state
from tests.support.node import lines, run, start
from vidpulse.server.models import EventType

TYPES = [t.value for t in EventType]


def events_url(server: Any, session_id: str) -> str:
    return f"{server.url}/api/sessions/{session_id}/events"


def seen(output: list[dict[str, Any]], what: str) -> list[dict[str, Any]]:
    return [line for line in output if line["what"] == what]


def logged_ids(server: Any, session_id: str, snapshot: dict[str, Any]) -> list[str]:
    """What the stream owes a client after its first snapshot, from the whole log read by our own
    SSE reader: every event after the one the snapshot covers, and a finished session's terminal
    event even when the snapshot covers it already (the session ended before the client came)."""
    covered = snapshot["data"]["data"]["last_event_id"]
    ids = [e.id for e in follow(server.client(), session_id, last_event_id="0")[1:]]
    after = ids[ids.index(covered) + 1 :] if covered in ids else ids
    return after or ids[-1:]


def test_left_open_after_the_end_it_stops_at_the_204(shared_server, clip, node):
    """A page that never calls close(), on a finished session: the snapshot, the terminal event,
    the end of the stream; the client reconnects with the terminal event's id, nothing is new, the
    server answers 204 and the client stops for good."""
    client = shared_server.client()
    session = upload_ok(client, clip.path)
    wait_state(client, session["id"], {"succeeded"})
    output = run(node, "sse_follow.mjs", timeout=90, url=events_url(shared_server, session["id"]), types=TYPES)
    events = seen(output, "event")
    assert [e["type"] for e in events] == ["snapshot", "succeeded"], events
    assert [events[1]["id"]] == logged_ids(shared_server, session["id"], events[0])
    assert len(seen(output, "open")) == 1, output
    errors = seen(output, "error")
    assert errors[-1]["code"] == 204 and errors[-1]["readyState"] == 2, errors  # CLOSED
    assert output[-1]["what"] == "closed"


def test_it_resumes_across_a_server_restart_without_a_gap(start_server, tmp_path, long_clip, node):
    """Every logged event once, in order, though the server restarts mid-job; the client finds
    its way back by itself (its `retry`, its Last-Event-ID)."""
    server = start_server(data_dir=tmp_path / "data", WORKERS=1)
    session = upload_ok(server.client(), long_clip.path, {"render": True, "width": 640})
    process = start(node, "sse_follow.mjs", url=events_url(server, session["id"]), types=TYPES, closeOnEnd=True)
    output: list[dict[str, Any]] = []
    progressed = threading.Event()

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            output.extend(lines(line))
            if output and output[-1].get("type") == "progress":
                progressed.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        assert progressed.wait(60), output
        server.restart()
        assert process.wait(180) == 0, process.stderr.read() if process.stderr else ""
    finally:
        process.kill()
    reader.join(5)

    events = seen(output, "event")
    assert events[-1]["type"] == "succeeded" and output[-1]["what"] == "closed", output[-3:]
    assert len(seen(output, "open")) >= 2, "the client reconnected by itself"
    ids = [e["id"] for e in events if e["type"] != "snapshot"]
    assert ids == logged_ids(server, session["id"], events[0]), "no gap, no duplicate: exactly the log"
    attempts = [e["data"]["data"]["attempt"] for e in events if e["type"] == "started"]
    assert attempts[-1] == 2, "the job ran again after the restart, and the client saw it start"
