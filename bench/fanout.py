"""Fan-out benchmark: N live subscribers (SSE, WebSocket, or half each) over 1 and over 20 running
sessions. Reports delivery latency (event `ts` to receipt), server RSS per subscriber, server CPU
per delivered event (the whole server process, and its event-loop thread alone), the clients' CPU
separately, and the analysis speed with N watchers divided by the analysis speed with none,
measured in the same run.

    .venv/bin/python bench/fanout.py --quick      # the headline cases: SSE and WS at 1,000, mixed at 2,000
    .venv/bin/python bench/fanout.py --subscribers 500,1000,2000 [--transport sse|ws|mixed]
    .venv/bin/python bench/fanout.py --quick --variant stock,granian   # other servers: bench/fanout_server.py

Clients run in separate processes on the same machine: their CPU is reported apart from the
server's, and it competes with the server's for the same cores.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import resource
import shutil
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from common import ROOT, BenchServer, cpu_split_s, percentile, thread_cpu_s
from tests.support.videogen import Segment, write_video

CLIENT_PROCESSES = 2
TERMINAL = ("succeeded", "failed", "cancelled", "expired")


def _raise_fd_limit() -> None:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def _latency_ms(line: str, now: float) -> tuple[float, str]:
    body = json.loads(line)
    sent = datetime.fromisoformat(body["ts"].replace("Z", "+00:00")).timestamp()
    return (now - sent) * 1000, body["type"]


async def _sse(port: int, session_id: str, latencies: list[float], connected: list[int]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=1 << 20)
    writer.write(f"GET /api/sessions/{session_id}/events HTTP/1.1\r\nHost: bench\r\n\r\n".encode())
    connected[0] += 1
    try:
        while line := await reader.readline():
            # Each event is one chunk, so data lines arrive whole; chunk-size lines are skipped.
            if line.startswith(b"data: "):
                latency, kind = _latency_ms(line[6:].decode(), time.time())
                if kind != "snapshot":
                    latencies.append(latency)
                if kind in TERMINAL:
                    return
    finally:
        writer.close()


async def _ws(port: int, session_id: str, latencies: list[float], connected: list[int]) -> None:
    import websockets

    async with websockets.connect(f"ws://127.0.0.1:{port}/api/ws", max_queue=None, open_timeout=60) as ws:
        await ws.send(json.dumps({"op": "subscribe", "session": session_id}))
        connected[0] += 1
        async for message in ws:
            latency, kind = _latency_ms(str(message), time.time())
            if kind != "snapshot":
                latencies.append(latency)
            if kind in TERMINAL:
                return


def _client_process(port: int, sessions: list[str], count: int, offset: int, transport: str, conn: Any) -> None:
    _raise_fd_limit()

    async def main() -> None:
        latencies: list[float] = []
        connected = [0]
        tasks = []
        for i in range(count):
            session_id = sessions[(offset + i) % len(sessions)]
            sse = transport == "sse" or (transport == "mixed" and (offset + i) % 2 == 0)
            kind = _sse if sse else _ws
            tasks.append(asyncio.create_task(kind(port, session_id, latencies, connected)))
            if i % 50 == 49:
                await asyncio.sleep(0.05)  # open gradually, as real tabs would
        done = asyncio.ensure_future(asyncio.gather(*tasks, return_exceptions=True))
        while connected[0] < count and not done.done():
            await asyncio.wait([done], timeout=0.05)  # until every subscriber is in, or all gave up
        conn.send(("connected", connected[0]))
        results = await done
        errors = sum(1 for r in results if isinstance(r, BaseException))
        usage = resource.getrusage(resource.RUSAGE_SELF)
        conn.send(("done", latencies, errors, usage.ru_utime + usage.ru_stime))

    asyncio.run(main())


def run_case(server: BenchServer, video: Path, sessions_n: int, subscribers: int, frames: int,
             transport: str = "mixed") -> dict[str, Any]:
    # Gate jobs hold every worker while the watched sessions wait in the queue and the subscribers
    # connect; cancelling the gates starts the watched jobs with everyone already watching.
    # (Rendering at 640 px makes the gates slow enough to outlast the connecting; a gate that still
    # ends early only lets one watched job start a little before everyone watches.)
    gates = [server.upload(video, {"render": True, "width": 640}) for _ in range(sessions_n)]
    for gate in gates:
        server.wait_state(gate, {"running", "succeeded", "failed", "cancelled"}, timeout=120)
    rss_before = server.rss_mb()
    sessions = [server.upload(video, {"max_frames": frames}) for _ in range(sessions_n)]
    ctx = multiprocessing.get_context("spawn")
    pipes, procs = [], []
    per_process = max(1, subscribers // CLIENT_PROCESSES) if subscribers else 0
    for index in range(CLIENT_PROCESSES if subscribers else 0):
        parent, child = ctx.Pipe()
        proc = ctx.Process(target=_client_process, args=(server.port, sessions, per_process,
                                                          index * per_process, transport, child))
        proc.start()
        pipes.append(parent)
        procs.append(proc)
    connected = sum(p.recv()[1] for p in pipes)
    rss_connected = server.rss_mb()
    pid = server.app_pid
    split_before, loop_cpu_before, started = cpu_split_s(pid), thread_cpu_s(pid, pid), time.monotonic()
    for gate in gates:
        server.cancel(gate)
    latencies: list[float] = []
    errors = 0
    client_cpu = 0.0
    for pipe in pipes:
        _, got, failed, cpu = pipe.recv()
        latencies.extend(got)
        errors += failed
        client_cpu += cpu
    wall = time.monotonic() - started
    user_s, system_s = (after - before for after, before in zip(cpu_split_s(pid), split_before, strict=True))
    server_cores = (user_s + system_s) / wall
    loop_cores = (thread_cpu_s(pid, pid) - loop_cpu_before) / wall
    for proc in procs:
        proc.join()
    fps = [server.report(s)["timing"]["fps"] for s in sessions if server.wait(s)["state"] == "succeeded"]
    return {
        "sessions": sessions_n, "subscribers": subscribers, "transport": transport, "connected": connected,
        "errors": errors,
        "events": len(latencies), "p50_ms": percentile(latencies, 0.5), "p99_ms": percentile(latencies, 0.99),
        "rss_kb_per_sub": (rss_connected - rss_before) * 1024 / subscribers if subscribers else 0.0,
        "analysis_fps": sum(fps) / len(fps) if fps else float("nan"),
        "server_cores": server_cores, "client_cores": client_cpu / wall, "loop_cores": loop_cores,
        "server_kernel_share": system_s / (user_s + system_s) if user_s + system_s else 0.0,
        "server_us_per_event": server_cores * wall / len(latencies) * 1e6 if latencies else 0.0,
        "loop_us_per_event": loop_cores * wall / len(latencies) * 1e6 if latencies else 0.0,
        "client_us_per_event": client_cpu / len(latencies) * 1e6 if latencies else 0.0,
    }


# The headline cases: (sessions, subscribers, transport). The 1,000-subscriber cases give the CPU per
# delivered event of each transport, the 2,000 mixed case the tail latency.
QUICK = [(1, 1000, "sse"), (1, 1000, "ws"), (1, 2000, "mixed")]
QUICK_FRAMES = 1200  # about 100 progress events at PROGRESS_HZ=20 on a quiet machine
# How the app is served: the project's `vidpulse serve`, or bench/fanout_server.py's variants.
VARIANTS = {
    "stock": None,
    "app": ["--server", "uvicorn"],  # as stock, through bench/fanout_server.py: --profile works
    "granian": ["--server", "granian"],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--subscribers", default="500,1000,2000")
    parser.add_argument("--sessions", default="1,20")
    parser.add_argument("--transport", default="mixed", choices=("sse", "ws", "mixed"))
    parser.add_argument("--frames", type=int, default=3000, help="analysed frames per case, split over its sessions")
    parser.add_argument("--progress-hz", type=float, default=20.0, help="the server's PROGRESS_HZ")
    parser.add_argument("--quick", action="store_true", help="the three headline cases only (make bench-quick)")
    parser.add_argument("--profile", help="with a fanout_server variant: write its cProfile stats to PROFILE-VARIANT")
    parser.add_argument("--variant", default="stock",
                        help=f"comma-separated, run in turn for each case: {', '.join(VARIANTS)}")
    args = parser.parse_args()
    _raise_fd_limit()
    if args.quick:
        cases, args.frames = QUICK, min(args.frames, QUICK_FRAMES)
    else:
        cases = [(int(m), int(n), args.transport)
                 for m in args.sessions.split(",") for n in args.subscribers.split(",")]
    work = Path(tempfile.mkdtemp(prefix="vidpulse-fanout-"))
    video = work / "fanout.mp4"
    scenes = max(1, args.frames // 125 + 1)
    write_video(video, [Segment("scene", 125, seed=i) for i in range(scenes)], fps=25, size=(640, 360))
    rows = []
    variants = args.variant.split(",")
    try:
        for sessions_n in sorted({m for m, _, _ in cases}):
            frames = args.frames // sessions_n
            servers = {}
            try:
                for variant in variants:
                    extra = VARIANTS[variant]
                    script = str(ROOT / "bench" / "fanout_server.py")
                    command = None if extra is None else [sys.executable, script, *extra]
                    profile = {"fanout_profile": f"{args.profile}-{variant}"} if args.profile else {}
                    servers[variant] = BenchServer(work / f"data-{sessions_n}-{variant}", command,
                                                   app_in_child=variant.startswith("granian"), workers=sessions_n,
                                                   max_queued=1000, progress_hz=args.progress_hz, **profile)
                for variant, server in servers.items():
                    maps = Path(f"/proc/{server.app_pid}/maps").read_text()
                    print(f"{variant}: uvloop {'loaded' if 'uvloop' in maps else 'NOT loaded'}, "
                          f"httptools {'loaded' if 'httptools' in maps else 'NOT loaded'}", flush=True)
                baselines = {v: run_case(server, video, sessions_n, 0, frames) for v, server in servers.items()}
                # Variants take turns on each case, so that the neighbours' load hits them alike.
                for _, n, transport in (c for c in cases if c[0] == sessions_n):
                    for variant, server in servers.items():
                        row = run_case(server, video, sessions_n, n, frames, transport)
                        row["variant"] = variant
                        row["slowdown"] = row["analysis_fps"] / baselines[variant]["analysis_fps"]
                        row["baseline_fps"] = baselines[variant]["analysis_fps"]
                        rows.append(row)
                        print(json.dumps(row), flush=True)
            finally:
                for server in servers.values():
                    server.stop()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"\nPROGRESS_HZ={args.progress_hz:g}; server us/event: the whole server process (its event-loop "
          "thread alone, and the kernel's share of the process's CPU, in brackets); "
          "targets: SSE <= 10 us at 1,000, WS no worse, p99 < 100 ms at 2,000")
    print("\n| variant | sessions | subscribers held | transport | p50 ms | p99 ms | server us / event (loop thread) "
          "| client us / event | server cores | client cores | server KB / subscriber "
          "| analysis fps watched / unwatched |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['variant']} | {r['sessions']} | {r['connected']}/{r['subscribers']} (errors {r['errors']}) "
              f"| {r['transport']} "
              f"| {r['p50_ms']:.0f} | {r['p99_ms']:.0f} | {r['server_us_per_event']:.1f} "
              f"({r['loop_us_per_event']:.1f}; kernel {r['server_kernel_share']:.0%}) "
              f"| {r['client_us_per_event']:.1f} | {r['server_cores']:.2f} "
              f"| {r['client_cores']:.2f} | {r['rss_kb_per_sub']:.0f} | {r['slowdown']:.2f} "
              f"({r['analysis_fps']:.0f} / {r['baseline_fps']:.0f}) |")


if __name__ == "__main__":
    main()
