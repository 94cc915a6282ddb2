"""Multipart uploads streamed straight into storage (a file, or an S3 multipart upload), with the
size limit enforced while the body arrives: a too-large upload is refused before it is read in full."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, MultipartState, parse_options_header

from vidpulse.server.errors import BadRequest, PayloadTooLarge, Unprocessable, UnsupportedMediaType

FILE_FIELD = "file"
# The form fields read besides `file`. A file sent in any other field is the video in the wrong place
# (`curl -F video=@clip.mp4`): refused from the part's headers, before any of it is read.
_FORM_FIELDS = frozenset({"options"})
_MAX_FIELD_BYTES = 64 * 1024
# Request chunks (about 64 KB) are gathered to this size before storage sees them.
_WRITE_BYTES = 1024 * 1024

FileSink = Callable[[AsyncIterator[bytes]], Awaitable[int]]


@dataclass
class Upload:
    filename: str | None = None
    size: int = 0
    fields: dict[str, str] = field(default_factory=dict)
    has_file: bool = False

    def options(self) -> dict[str, Any]:
        return options_json(self.fields.get("options", ""), "field")


def options_json(raw: str, where: str) -> dict[str, Any]:
    """The `options` JSON object sent as a form field or as tus metadata; empty means defaults."""
    if not raw.strip():
        return {}
    try:
        value = json.loads(raw)
    except ValueError as exc:
        raise Unprocessable(f"The 'options' {where} is not valid JSON.", field="options") from exc
    if not isinstance(value, dict):
        raise Unprocessable(f"The 'options' {where} must be a JSON object.", field="options")
    return value


@dataclass(frozen=True)
class MultipartBody:
    """A request body as the API layer hands it over: its two headers, and its bytes as they arrive
    (a client that goes away ends them with a BadRequest)."""

    content_type: str | None
    content_length: str | None
    chunks: AsyncIterator[bytes]


def check_request(body: MultipartBody, max_bytes: int) -> bytes:
    """Refuse what can be refused from the headers alone; returns the multipart boundary."""
    content_type, params = parse_options_header(body.content_type)
    if content_type != b"multipart/form-data":
        raise UnsupportedMediaType("Send the video as multipart/form-data with a 'file' field.")
    boundary = params.get(b"boundary")
    if not boundary:
        raise BadRequest("The multipart body has no boundary.")
    length = body.content_length
    if length and length.isdigit() and int(length) > max_bytes + _MAX_FIELD_BYTES:
        raise PayloadTooLarge(f"The upload is larger than the {max_bytes // (1024 * 1024)} MB limit.")
    return boundary


class _Receiver:
    """python-multipart callbacks: the `file` part's bytes wait in `pending` for the sink, small
    fields go to memory."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.pending = bytearray()
        self.upload = Upload()
        self._header_field = bytearray()
        self._header_value = bytearray()
        self._headers: dict[bytes, bytes] = {}
        self._name: str | None = None
        self._value = bytearray()
        self._in_file = False
        self._misplaced = False  # a file part in a field that is not `file`

    def callbacks(self) -> dict[str, Any]:
        return {
            "on_part_begin": self._part_begin,
            "on_header_field": lambda d, s, e: self._header_field.extend(d[s:e]),
            "on_header_value": lambda d, s, e: self._header_value.extend(d[s:e]),
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
            "on_part_data": self._part_data,
            "on_part_end": self._part_end,
        }

    def _part_begin(self) -> None:
        self._headers, self._name, self._value, self._misplaced = {}, None, bytearray(), False

    def _header_end(self) -> None:
        self._headers[bytes(self._header_field).lower()] = bytes(self._header_value)
        self._header_field.clear()
        self._header_value.clear()

    def _headers_finished(self) -> None:
        _, params = parse_options_header(self._headers.get(b"content-disposition", b""))
        self._name = params.get(b"name", b"").decode("utf-8", "replace")
        if self._name == FILE_FIELD:
            if self.upload.has_file:
                raise BadRequest("Send one video per upload: the 'file' field appears twice.")
            self.upload.has_file = True
            self.upload.filename = params.get(b"filename", b"").decode("utf-8", "replace") or None
            self._in_file = True
        elif b"filename" in params and self._name not in _FORM_FIELDS:
            self._misplaced = True
            # A browser sends an empty file input as `filename=""` and no bytes: refused only if
            # bytes come (`_part_data`).
            if params[b"filename"]:
                raise self._misplaced_file()

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        chunk = data[start:end]
        if self._in_file:
            self.upload.size += len(chunk)
            if self.upload.size > self.max_bytes:
                raise PayloadTooLarge(f"The upload is larger than the {self.max_bytes // (1024 * 1024)} MB limit.")
            self.pending += chunk
        elif self._misplaced and chunk:
            raise self._misplaced_file()
        elif len(self._value) + len(chunk) > _MAX_FIELD_BYTES:
            raise PayloadTooLarge(f"The form field {self._name!r} is larger than 64 KB.")
        else:
            self._value += chunk

    def _misplaced_file(self) -> Unprocessable:
        where = f"the field {self._name!r}" if self._name else "a part without a name"
        return Unprocessable(f"Send the video in the form field 'file', not in {where}.", field=FILE_FIELD)

    def _part_end(self) -> None:
        if self._in_file:
            self._in_file = False
        elif self._name:
            self.upload.fields[self._name] = self._value.decode("utf-8", "replace")

    def take(self, at_least: int = 0) -> bytes | None:
        """The file bytes received so far, once there are at least `at_least` of them."""
        if not self.pending or len(self.pending) < at_least:
            return None
        data = bytes(self.pending)
        self.pending.clear()
        return data


async def receive_upload(body: MultipartBody, sink: FileSink, max_bytes: int) -> Upload:
    """Stream the body's `file` part into `sink` (storage's `write`). On any error the caller
    removes what the sink stored."""
    boundary = check_request(body, max_bytes)
    receiver = _Receiver(max_bytes)
    parser = MultipartParser(boundary, receiver.callbacks())  # type: ignore[arg-type]
    await sink(_file_bytes(body.chunks, parser, receiver))
    if not receiver.upload.has_file:
        raise BadRequest("The upload has no 'file' field.", field=FILE_FIELD)
    if receiver.upload.size == 0:
        raise Unprocessable("The uploaded file is empty.", field=FILE_FIELD)
    return receiver.upload


async def _file_bytes(chunks: AsyncIterator[bytes], parser: MultipartParser,
                      receiver: _Receiver) -> AsyncIterator[bytes]:
    """Drives the parser over the request body and yields the file part's bytes as they come."""
    try:
        async for chunk in chunks:
            parser.write(chunk)
            if data := receiver.take(_WRITE_BYTES):
                yield data
        parser.finalize()
        if parser.state != MultipartState.END:
            raise BadRequest("The multipart body ended before its closing boundary.")
    except MultipartParseError as exc:
        raise BadRequest("The multipart body is malformed.") from exc
    if data := receiver.take():
        yield data
