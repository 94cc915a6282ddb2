"""Scale-out benchmark: jobs per minute with W worker processes on the memory backend (one
`vidpulse serve`, WORKERS=W) and on the redis backend (a redis-server started here, one API-only
`vidpulse serve` with WORKERS=0, and one `vidpulse worker` process with WORKERS=W, sharing DATA_DIR).

    .venv/bin/python bench/scaleout.py --clips 12 --seconds 8 --workers 1,2,4 --rounds 5

Throughput is the number of clips divided by the time from the first upload to the last `succeeded`
(its `finished_at`). Every case gets a fresh DATA_DIR (and, on redis, a fresh database), a warm-up
job that is not counted, and the cases of one round alternate memory and redis so that load from
elsewhere on the machine hits both alike; the best round of each case is reported. Uploads, API,
workers and redis-server all run on this one machine, so every figure includes their CPU cost.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import redis

from common import ROOT, BenchServer, free_port
from tests.support.videogen import Segment, write_video

FPS = 25
SCENE_FRAMES = 50  # a cut every 2 s, so every clip has a few scenes and thumbnails


def _timestamp(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def make_clips(folder: Path, count: int, seconds: float, size: tuple[int, int]) -> list[Path]:
    clips = []
    frames = int(seconds * FPS)
    for i in range(count):
        path = folder / f"clip-{i:02d}.mp4"
        segments = [Segment("scene", min(SCENE_FRAMES, frames - start), seed=i * 100 + start // SCENE_FRAMES)
                    for start in range(0, frames, SCENE_FRAMES)]
        write_video(path, segments, fps=FPS, size=size)
        clips.append(path)
    return clips


@contextlib.contextmanager
def redis_server(workdir: Path) -> Iterator[int]:
    port = free_port()
    process = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", str(workdir), "--databases", "16"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        client = redis.Redis(port=port)
        deadline = time.monotonic() + 20
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError("redis-server did not start") from None
                time.sleep(0.05)
        client.close()
        yield port
    finally:
        _stop(process)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextlib.contextmanager
def worker_process(data_dir: Path, redis_url: str, workers: int) -> Iterator[subprocess.Popen[bytes]]:
    """`vidpulse worker` with WORKERS=W: the same environment the API instance gets."""
    env = dict(os.environ, BACKEND="redis", REDIS_URL=redis_url, DATA_DIR=str(data_dir), WORKERS=str(workers),
               LOG_LEVEL="warning")
    process = subprocess.Popen([sys.executable, "-m", "vidpulse.server.cli", "worker"], cwd=ROOT, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield process
    finally:
        _stop(process)


@contextlib.contextmanager
def bench_server(data_dir: Path, **settings: Any) -> Iterator[BenchServer]:
    server = BenchServer(data_dir, **settings)
    try:
        yield server
    finally:
        server.stop()


def wait_workers(server: BenchServer, workers: int, timeout: float = 60) -> None:
    """Until /readyz counts the remote worker's processes (heartbeats every few seconds)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        alive = httpx.get(f"{server.url}/readyz", timeout=5).json()["workers"]["alive"]
        if alive >= workers:
            return
        time.sleep(0.2)
    raise RuntimeError(f"the remote worker did not report {workers} live processes")


def measure(server: BenchServer, clips: list[Path], warmup: Path) -> dict[str, float]:
    first = server.wait(server.upload(warmup))
    if first["state"] != "succeeded":
        raise RuntimeError(f"warm-up job ended {first['state']}: {first.get('error')}")
    started = time.time()
    ids = [server.upload(clip) for clip in clips]
    docs = [server.wait(session_id) for session_id in ids]
    failed = [d for d in docs if d["state"] != "succeeded"]
    if failed:
        raise RuntimeError(f"{len(failed)} jobs did not succeed, e.g. {failed[0]['state']}: {failed[0].get('error')}")
    finished = max(_timestamp(d["finished_at"]) for d in docs)
    elapsed = finished - started
    runs = [_timestamp(d["finished_at"]) - _timestamp(d["started_at"]) for d in docs]
    return {"seconds": elapsed, "jobs_per_min": len(clips) * 60 / elapsed, "job_s": sum(runs) / len(runs)}


def run_memory(work: Path, tag: str, clips: list[Path], warmup: Path, workers: int) -> dict[str, float]:
    data_dir = work / f"data-memory-{tag}"
    try:
        with bench_server(data_dir, workers=workers, max_queued=1000) as server:
            return measure(server, clips, warmup)
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


def run_redis(work: Path, tag: str, clips: list[Path], warmup: Path, workers: int, redis_url: str) -> dict[str, float]:
    data_dir = work / f"data-redis-{tag}"
    data_dir.mkdir()
    try:
        with worker_process(data_dir, redis_url, workers), \
                bench_server(data_dir, backend="redis", redis_url=redis_url, workers=0, max_queued=1000) as server:
            wait_workers(server, workers)
            return measure(server, clips, warmup)
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clips", type=int, default=12)
    parser.add_argument("--seconds", type=float, default=8.0, help="length of each clip")
    parser.add_argument("--size", default="640x360")
    parser.add_argument("--workers", default="1,2,4", help="worker process counts to measure")
    parser.add_argument("--rounds", type=int, default=5, help="each case runs this often; the best counts")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    worker_counts = [int(w) for w in args.workers.split(",")]
    cores = os.cpu_count() or 1
    load_before = os.getloadavg()

    work = Path(tempfile.mkdtemp(prefix="vidpulse-scaleout-"))
    results: dict[tuple[str, int], list[dict[str, float]]] = {}
    try:
        clips = make_clips(work, args.clips, args.seconds, (width, height))
        warmup = work / "warmup.mp4"
        write_video(warmup, [Segment("scene", FPS, seed=9999)], fps=FPS, size=(width, height))
        with redis_server(work) as port:
            database = 0
            for round_no in range(args.rounds):
                for workers in worker_counts:
                    database += 1  # a fresh database per case
                    redis_url = f"redis://127.0.0.1:{port}/{database}"
                    tag = f"w{workers}-r{round_no}"
                    # Alternate which backend goes first, so neither always gets the quieter slot.
                    order = ("memory", "redis") if (round_no + workers) % 2 == 0 else ("redis", "memory")
                    for backend in order:
                        if backend == "memory":
                            row = run_memory(work, tag, clips, warmup, workers)
                        else:
                            row = run_redis(work, tag, clips, warmup, workers, redis_url)
                        results.setdefault((backend, workers), []).append(row)
                        print(json.dumps({"round": round_no, "backend": backend, "workers": workers,
                                          **{k: round(v, 2) for k, v in row.items()}}), flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    load_after = os.getloadavg()
    print(f"\n{args.clips} clips of {args.seconds:g} s at {width}x{height}, {FPS} fps; best of {args.rounds} "
          f"round(s). {cores} CPU cores: W above {cores} oversubscribes them. Load average "
          f"{load_before[0]:.1f} before, {load_after[0]:.1f} after.\n")
    print("| W | memory jobs/min (worst round) | redis jobs/min (worst round) | redis / memory "
          "| mean job s, memory / redis |")
    print("|---|---|---|---|---|")
    for workers in worker_counts:
        mem_rows, red_rows = results[("memory", workers)], results[("redis", workers)]
        mem = max(mem_rows, key=lambda r: r["jobs_per_min"])
        red = max(red_rows, key=lambda r: r["jobs_per_min"])
        mem_worst = min(r["jobs_per_min"] for r in mem_rows)
        red_worst = min(r["jobs_per_min"] for r in red_rows)
        note = " (oversubscribed)" if workers > cores else ""
        print(f"| {workers}{note} | {mem['jobs_per_min']:.0f} ({mem_worst:.0f}) | {red['jobs_per_min']:.0f} "
              f"({red_worst:.0f}) | {red['jobs_per_min'] / mem['jobs_per_min']:.2f} | "
              f"{mem['job_s']:.2f} / {red['job_s']:.2f} |")


if __name__ == "__main__":
    main()
