"""Upload throughput: one large file as tus chunks of 8 MB (PATCH after PATCH) against one multipart POST,
against the same server, in the same run, rounds alternating so load from elsewhere hits both alike.

    .venv/bin/python bench/uploads.py --size-mb 1024 --rounds 3

The file is a short generated MP4 followed by a top-level `free` box of padding up to the size (legal
MP4, so both paths end with the same probe and queue the same tiny analysis, which each round deletes).
Times run from the first byte sent to the answer to the last one (202 for multipart, 204 for the last
PATCH): for tus they include the POST that creates the upload. MB/s are MiB of the file per second. The
client (httpx, in this process) and the server share this machine's cores.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import struct
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx

from common import BenchServer

CHUNK = 8 * 1024 * 1024
TUS = {"Tus-Resumable": "1.0.0"}


def padded_video(folder: Path, size: int) -> Path:
    from tests.support.videogen import standard_clip

    clip = folder / "clip.mp4"
    standard_clip(clip)
    head = clip.read_bytes()
    path = folder / "big.mp4"
    pad = size - len(head)
    with path.open("wb") as out:
        out.write(head)
        out.write(struct.pack(">I4s", pad, b"free"))
        block = b"\0" * CHUNK
        left = pad - 8
        while left > 0:
            out.write(block[:min(left, CHUNK)])
            left -= min(left, CHUNK)
    return path


def file_chunks(path: Path, size: int = 1024 * 1024) -> Iterator[bytes]:
    with path.open("rb") as fh:
        while chunk := fh.read(size):
            yield chunk


def multipart(client: httpx.Client, path: Path) -> str:
    with path.open("rb") as fh:
        response = client.post("/api/sessions", files={"file": (path.name, fh, "video/mp4")})
    response.raise_for_status()
    return str(response.json()["id"])


def tus(client: httpx.Client, path: Path, checksum: bool = False) -> str:
    size = path.stat().st_size
    meta = "filename " + base64.b64encode(path.name.encode()).decode()
    created = client.post("/api/uploads", headers={**TUS, "Upload-Length": str(size), "Upload-Metadata": meta})
    created.raise_for_status()
    url = created.headers["location"]
    offset = 0
    with path.open("rb") as fh:
        while offset < size:
            chunk = fh.read(CHUNK)
            headers = {**TUS, "Upload-Offset": str(offset), "Content-Type": "application/offset+octet-stream"}
            if checksum:
                headers["Upload-Checksum"] = "sha1 " + base64.b64encode(hashlib.sha1(chunk).digest()).decode()
            answer = client.patch(url, content=chunk, headers=headers)
            answer.raise_for_status()
            offset = int(answer.headers["upload-offset"])
    return url.rsplit("/", 1)[-1]


def timed(client: httpx.Client, upload: Callable[[], str]) -> float:
    start = time.perf_counter()
    session_id = upload()
    seconds = time.perf_counter() - start
    client.delete(f"/api/sessions/{session_id}").raise_for_status()
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=1024)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="vidpulse-bench-") as tmp:
        folder = Path(tmp)
        path = padded_video(folder, args.size_mb * 1024 * 1024)
        server = BenchServer(folder / "data", WORKERS=1, MAX_UPLOAD_MB=args.size_mb + 64)
        cases: dict[str, Callable[[httpx.Client], str]] = {
            "multipart POST": lambda c: multipart(c, path),
            "tus, 8 MB PATCHes": lambda c: tus(c, path),
            "tus, 8 MB PATCHes + sha1": lambda c: tus(c, path, checksum=True),
        }
        times: dict[str, list[float]] = {name: [] for name in cases}
        try:
            with httpx.Client(base_url=server.url, timeout=600) as client:
                for _ in range(args.rounds):
                    for name, case in cases.items():
                        times[name].append(timed(client, lambda case=case: case(client)))  # type: ignore[misc]
        finally:
            server.stop()
    mib = args.size_mb
    baseline = min(times["multipart POST"])
    rows = {name: {"best_s": round(min(t), 2), "worst_s": round(max(t), 2), "mib_per_s": round(mib / min(t), 1),
                   "vs_multipart": round(baseline / min(t), 2)} for name, t in times.items()}
    print(json.dumps({"size_mib": mib, "rounds": args.rounds, "cases": rows}, indent=2))


if __name__ == "__main__":
    main()
