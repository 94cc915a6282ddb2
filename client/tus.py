"""Resumable uploads over tus 1.0.0 (https://tus.io/protocols/resumable-upload), when the server offers it.

The sans-IO half: what to send and how to read the answers. The sync and async clients run the loop:
create the upload, send the rest of the file in one streamed PATCH, and after a drop ask the server
(HEAD) how much it has and send on from there.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from .errors import VidpulseError

TUS_VERSION = "1.0.0"
ENDPOINT = "/api/uploads"
CHUNK_TYPE = "application/offset+octet-stream"


def offered(response: httpx.Response) -> bool:
    """Whether the answer to `OPTIONS /api/uploads` offers tus 1.0.0 with creation."""
    versions = {v.strip() for v in response.headers.get("tus-version", "").split(",")}
    extensions = {e.strip() for e in response.headers.get("tus-extension", "").split(",")}
    return response.is_success and TUS_VERSION in versions and "creation" in extensions


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


@dataclass(frozen=True)
class TusUpload:
    path: Path
    options: Mapping[str, Any] | None
    size: int

    def creation_headers(self) -> dict[str, str]:
        metadata = [f"filename {_b64(self.path.name)}"]
        if self.options is not None:
            metadata.append(f"options {_b64(json.dumps(dict(self.options)))}")
        return {"Tus-Resumable": TUS_VERSION, "Upload-Length": str(self.size), "Upload-Metadata": ",".join(metadata)}

    def patch_headers(self, offset: int) -> dict[str, str]:
        return {"Tus-Resumable": TUS_VERSION, "Upload-Offset": str(offset), "Content-Type": CHUNK_TYPE,
                "Content-Length": str(self.size - offset)}

    @staticmethod
    def head_headers() -> dict[str, str]:
        return {"Tus-Resumable": TUS_VERSION}


def location(response: httpx.Response) -> str:
    """The upload's URL from a 201; its last segment is the session id."""
    if response.status_code != 201 or "location" not in response.headers:
        response.read()
        raise VidpulseError.from_response(response) if not response.is_success else VidpulseError(
            "the server created no upload (no Location)", response.status_code)
    return response.headers["location"]


def session_id(upload_url: str) -> str:
    return httpx.URL(upload_url).path.rstrip("/").rsplit("/", 1)[-1]


def new_offset(response: httpx.Response) -> int | None:
    """The offset after a PATCH or HEAD; None when the answer is worth another try (a conflict on the
    offset, the upload locked by a PATCH still in flight, a server error); VidpulseError when final."""
    if response.is_success and "upload-offset" in response.headers:
        return int(response.headers["upload-offset"])
    if response.status_code in (409, 423, 460) or response.status_code >= 500:
        return None
    response.read()
    raise VidpulseError.from_response(response)
