"""Bad input gets a clear 4xx problem document and leaves nothing behind."""

from __future__ import annotations

import httpx
import pytest

from tests.support.client import assert_problem, upload

UNKNOWN = "s_00000000000000000000000000000000"


@pytest.fixture
def nothing_left(shared_server):
    before = shared_server.footprint()
    yield
    assert shared_server.footprint() == before, "a refused upload leaves nothing in DATA_DIR"


def test_missing_file_field(shared_server, nothing_left):
    response = shared_server.client().post("/api/sessions", files={"other": (None, b"x")})
    assert assert_problem(response, 400)["field"] == "file"


@pytest.mark.parametrize("size", [2 * 1024, 3 * 1024 * 1024])
def test_the_video_in_another_field_is_a_422_naming_file(shared_server, nothing_left, size):
    """`curl -F video=@clip.mp4`: not a form field too large (413) or missing (400), but a 422 that
    says where the video goes."""
    files = {"video": ("clip.mp4", b"\0" * size, "video/mp4")}
    doc = assert_problem(shared_server.client().post("/api/sessions", files=files), 422)
    assert doc["field"] == "file" and "'file'" in doc["detail"] and "'video'" in doc["detail"]


def test_the_video_in_another_field_is_refused_from_its_headers(shared_server, nothing_left):
    """Decided before the part is read: a body larger than MAX_UPLOAD_MB, sent without a
    Content-Length, still gets the 422 and not a 413."""
    assert assert_problem(_post_streamed(shared_server, "upload", 22), 422)["field"] == "file"


def test_options_may_come_as_a_file(shared_server, clip):
    """`-F options=@options.json` is not a misplaced video: `options` is a field the upload reads."""
    with clip.path.open("rb") as fh:
        response = shared_server.client().post("/api/sessions", files={
            "file": ("clip.mp4", fh, "video/mp4"), "options": ("options.json", b'{"width": 160}', "application/json"),
            "thumbnail": ("", b"", "application/octet-stream")})  # an empty file input of a browser form
    assert response.status_code == 202, response.text


def test_not_multipart(shared_server, nothing_left):
    response = shared_server.client().post("/api/sessions", content=b"hello",
                                           headers={"content-type": "video/mp4"})
    assert_problem(response, 415)


def test_empty_file(shared_server, nothing_left, tmp_path):
    path = tmp_path / "empty.mp4"
    path.write_bytes(b"")
    assert_problem(upload(shared_server.client(), path), 422)


def test_text_file_named_mp4(shared_server, nothing_left, tmp_path):
    path = tmp_path / "notes.mp4"
    path.write_text("this is not a video\n" * 100)
    doc = assert_problem(upload(shared_server.client(), path), 422)
    assert doc["code"] == "undecodable"


def test_truncated_mp4(shared_server, nothing_left, clip, tmp_path):
    path = tmp_path / "truncated.mp4"
    path.write_bytes(clip.path.read_bytes()[: clip.path.stat().st_size // 2])
    assert_problem(upload(shared_server.client(), path), 422)


def test_over_the_size_limit(shared_server, nothing_left, tmp_path):
    path = tmp_path / "big.mp4"
    path.write_bytes(b"\0" * (21 * 1024 * 1024))  # the shared server allows 20 MB
    assert_problem(upload(shared_server.client(), path), 413)


def test_over_the_limit_without_content_length(shared_server, nothing_left):
    assert_problem(_post_streamed(shared_server, "file", 22), 413)


def _post_streamed(server, field: str, megabytes: int) -> httpx.Response:
    """A multipart upload of `megabytes` in the form field `field`, without a Content-Length."""
    boundary = "vidpulseboundary"

    def body():
        yield (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"; filename=\"a.mp4\"\r\n"
               "Content-Type: video/mp4\r\n\r\n").encode()
        for _ in range(megabytes):
            yield b"\0" * (1024 * 1024)
        yield f"\r\n--{boundary}--\r\n".encode()

    return server.client().post(
        "/api/sessions", content=body(), headers={"content-type": f"multipart/form-data; boundary={boundary}"})


def test_malformed_multipart(shared_server, nothing_left):
    response = shared_server.client().post(
        "/api/sessions", content=b"--b\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\nabc",
        headers={"content-type": "multipart/form-data; boundary=b"})
    assert_problem(response, 400)


@pytest.mark.parametrize(("options", "field"), [
    ({"bogus": 1}, "options.bogus"),
    ({"width": "wide"}, "options.width"),
    ({"width": 5}, "options.width"),
    ({"render": 3}, "options.render"),
])
def test_bad_options_name_the_field(shared_server, nothing_left, clip, options, field):
    doc = assert_problem(upload(shared_server.client(), clip.path, options), 422)
    assert doc["field"] == field


def test_options_not_json(shared_server, nothing_left, clip):
    with clip.path.open("rb") as fh:
        response = shared_server.client().post("/api/sessions", files={"file": ("a.mp4", fh)},
                                               data={"options": "{not json"})
    assert assert_problem(response, 422)["field"] == "options"


@pytest.mark.parametrize("path", [
    f"/api/sessions/{UNKNOWN}",
    f"/api/sessions/{UNKNOWN}/results",
    f"/api/sessions/{UNKNOWN}/files/report.json",
    "/api/sessions/not-an-id",
    "/nowhere",
])
def test_unknown_things_are_404(shared_server, path):
    assert_problem(shared_server.client().get(path), 404)


def test_unknown_session_cancel_and_delete_are_404(shared_server):
    client = shared_server.client()
    assert_problem(client.post(f"/api/sessions/{UNKNOWN}/cancel"), 404)
    assert_problem(client.delete(f"/api/sessions/{UNKNOWN}"), 404)


def test_wrong_method_is_a_problem_document(shared_server):
    assert_problem(shared_server.client().put("/api/sessions"), 405)
