"""Storage benchmark: upload throughput and time to the first progress event, STORAGE=local
against STORAGE=s3 (a SeaweedFS started here), in the same run.

    .venv/bin/python bench/storage.py --rounds 3 --mb 100

Both cases run the redis backend (a redis-server started here) with one `vidpulse serve`
(WORKERS=1), so the only difference is where the files go. Each round uploads:
- a large file (`--mb` MB of Motion-JPEG noise, which does not compress): upload throughput is
  its size over the time from the start of the POST to the 202 (the body streamed into storage,
  then probed), and the time from the 202 to its first progress event is mostly the worker's
  download of it;
- a small clip (4.5 s, 320x240): time to the first progress event is from the start of the
  POST to the first `progress` event on the SSE stream opened right after the 202.
Rounds alternate which case goes first; the median of the rounds is reported, with the ratio
s3 / local. The bucket's own speed is the baseline for the S3 figures: the same large file put
into and read back from SeaweedFS directly with obstore, without Vidpulse, in the same rounds.
Everything (client, server, worker, redis-server, SeaweedFS) shares this machine.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import httpx
import numpy as np
from httpx_sse import connect_sse

from common import BenchServer


def noise_video(path: Path, megabytes: int) -> None:
    """Motion-JPEG of random frames at 640x360: about 0.2 MB a frame, incompressible."""
    rng = np.random.default_rng(7)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mjpeg", rate=25)
        stream.width, stream.height, stream.pix_fmt = 640, 360, "yuvj420p"
        stream.time_base = Fraction(1, 25)
        stream.options = {"q:v": "2"}
        written = 0
        while written < megabytes * 1024 * 1024:
            frame = av.VideoFrame.from_ndarray(rng.integers(0, 256, (360, 640, 3), dtype=np.uint8), format="rgb24")
            for packet in stream.encode(frame):
                written += packet.size
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def direct_transfer(store: Any, path: Path) -> dict[str, float]:
    """MB/s of a plain put and get of `path` to and from the bucket (the store's own speed)."""
    import obstore

    size_mb = path.stat().st_size / 1024 / 1024
    started = time.perf_counter()
    obstore.put(store, "bench/direct", path, chunk_size=8 * 1024 * 1024, max_concurrency=2)
    put_s = time.perf_counter() - started
    started = time.perf_counter()
    received = sum(len(chunk) for chunk in obstore.get(store, "bench/direct").stream())
    get_s = time.perf_counter() - started
    obstore.delete(store, "bench/direct")
    assert received == path.stat().st_size
    return {"direct_put_mb_s": size_mb / put_s, "direct_get_mb_s": size_mb / get_s}


def upload_and_follow(server: BenchServer, path: Path) -> dict[str, float]:
    """Seconds from the start of the POST to its 202, and to the first progress event."""
    started = time.perf_counter()
    with path.open("rb") as fh:
        response = httpx.post(f"{server.url}/api/sessions", files={"file": (path.name, fh)}, timeout=600)
    response.raise_for_status()
    accepted = time.perf_counter() - started
    session_id = response.json()["id"]
    first_progress = float("nan")
    with httpx.Client(base_url=server.url, timeout=httpx.Timeout(600)) as client, \
            connect_sse(client, "GET", f"/api/sessions/{session_id}/events") as source:
        for event in source.iter_sse():
            if event.event == "progress" and first_progress != first_progress:
                first_progress = time.perf_counter() - started
            if event.event in ("succeeded", "failed", "cancelled"):
                if event.event != "succeeded":
                    raise RuntimeError(f"{path.name}: {event.data}")
                break
    httpx.delete(f"{server.url}/api/sessions/{session_id}", timeout=60).raise_for_status()
    return {"accepted_s": accepted, "first_progress_s": first_progress}


@contextlib.contextmanager
def serve(data_dir: Path, **settings: Any) -> Iterator[BenchServer]:
    server = BenchServer(data_dir, backend="redis", workers=1, **settings)
    try:
        yield server
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--mb", type=int, default=100, help="size of the large upload")
    args = parser.parse_args()
    # After `common`, which puts tests/ on the path these helpers come from.
    from scaleout import redis_server
    from servers import spawn_s3

    from tests.support.videogen import standard_clip

    load_before = os.getloadavg()
    work = Path(tempfile.mkdtemp(prefix="vidpulse-storage-"))
    rows: dict[str, list[dict[str, float]]] = {"local": [], "s3": []}
    s3 = None
    try:
        big, small = work / "noise.avi", work / "clip.mp4"
        noise_video(big, args.mb)
        standard_clip(small)
        size_mb = big.stat().st_size / 1024 / 1024
        s3 = spawn_s3(work / "seaweedfs")
        with redis_server(work) as port:
            s3_settings = {k.lower(): v for k, v in s3.settings().items()}
            with serve(work / "local", redis_url=f"redis://127.0.0.1:{port}/1") as local, \
                    serve(work / "s3", redis_url=f"redis://127.0.0.1:{port}/2", **s3_settings) as remote:
                cases = {"local": local, "s3": remote}
                for server in cases.values():  # warm-up: first imports, the bucket's first volume
                    upload_and_follow(server, small)
                for round_no in range(args.rounds):
                    for name in ("local", "s3") if round_no % 2 == 0 else ("s3", "local"):
                        large = upload_and_follow(cases[name], big)
                        quick = upload_and_follow(cases[name], small)
                        row = {"upload_mb_s": size_mb / large["accepted_s"],
                               "large_first_progress_s": large["first_progress_s"] - large["accepted_s"],
                               "small_first_progress_s": quick["first_progress_s"]}
                        if name == "s3":
                            row.update(direct_transfer(s3.store(), big))
                        rows[name].append(row)
                        print(json.dumps({"round": round_no, "storage": name,
                                          **{k: round(v, 3) for k, v in row.items()}}), flush=True)
    finally:
        if s3 is not None:
            s3.stop()
        shutil.rmtree(work, ignore_errors=True)

    load_after = os.getloadavg()
    print(f"\n{size_mb:.0f} MB upload and a 4.5 s 320x240 clip; median of {args.rounds} round(s); "
          f"load average {load_before[0]:.1f} before, {load_after[0]:.1f} after.\n")
    print("| measurement | local | s3 (SeaweedFS) | s3 / local |")
    print("|---|---|---|---|")
    for key, label in (("upload_mb_s", f"upload throughput, MB/s ({size_mb:.0f} MB, POST to 202)"),
                       ("large_first_progress_s", f"202 to the first progress event, s ({size_mb:.0f} MB upload: "
                                                  "the worker's download and start)"),
                       ("small_first_progress_s", "POST to the first progress event, s (small clip)")):
        local_value = statistics.median(r[key] for r in rows["local"])
        s3_value = statistics.median(r[key] for r in rows["s3"])
        print(f"| {label} | {local_value:.3g} | {s3_value:.3g} | {s3_value / local_value:.2f} |")
    for key, label in (("direct_put_mb_s", "the bucket alone: put, MB/s (obstore, no Vidpulse)"),
                       ("direct_get_mb_s", "the bucket alone: get, MB/s")):
        print(f"| {label} | | {statistics.median(r[key] for r in rows['s3']):.3g} | |")


if __name__ == "__main__":
    main()
