from __future__ import annotations

import dataclasses
import json

from vidpulse.processing import AnalysisOptions
from vidpulse.server import schemas
from vidpulse.server.models import (
    Event,
    EventType,
    Session,
    SessionError,
    SessionState,
    StoredUpload,
    UploadProgress,
    event_order,
    new_session_id,
)


def test_event_encodes_once_for_sse_and_websocket():
    event = Event.create("7", "s_1", EventType.PROGRESS, {"fraction": 0.5})
    assert json.loads(event.json) == event.to_dict()
    assert event.sse == f"id: 7\r\nevent: progress\r\ndata: {event.json}\r\n\r\n".encode()
    assert event.sse is event.sse, "cached: fan-out shares one encoding"
    snapshot = Event.create(None, "s_1", EventType.SNAPSHOT, {})
    assert snapshot.sse.startswith(b"event: snapshot"), "a snapshot has no id line"


def test_event_ids_order_for_both_backends():
    assert event_order("9") < event_order("10")
    assert event_order("1732440000000-3") < event_order("1732440000000-12") < event_order("1732440000001-0")


def test_session_manifest_round_trip():
    session = Session(new_session_id(), "a.mp4", options=AnalysisOptions(width=160), state=SessionState.FAILED,
                      error=SessionError(code="undecodable", message="x"),
                      upload=StoredUpload(offset=10, length=20, via="tus", metadata="filename YS5tcDQ="),
                      progress=UploadProgress(fraction=0.5, stage="upload", offset=10, length=20, bytes_per_s=None,
                                              eta_s=None))
    again = Session.from_manifest(json.loads(json.dumps(session.to_manifest())))
    assert dataclasses.replace(again, created_at=session.created_at) == session  # stored to the millisecond
    assert schemas.Session.of(again) == schemas.Session.of(session)
    assert int(session.id[2:], 16).bit_length() > 100


def test_terminal_and_finished_sets():
    assert {t for t in EventType if t.terminal} == {EventType.SUCCEEDED, EventType.FAILED,
                                                     EventType.CANCELLED, EventType.EXPIRED}
    assert not SessionState.CANCELLING.finished and SessionState.CANCELLED.finished
