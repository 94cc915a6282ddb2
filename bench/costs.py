"""Per-session costs of the scaled-out layout, measured with real processes, for the sizing in
docs/deployment.md ("Scale on paper"):

    .venv/bin/python bench/costs.py --clips 8 --seconds 10 --size 1280x720

Starts a redis-server on a free port, one API-only `vidpulse serve` (WORKERS=0, BACKEND=redis) and
one `vidpulse worker` (WORKERS=--workers) sharing a DATA_DIR (STORAGE=local, so the files of a
session can be counted: with STORAGE=s3 each file is one PUT), runs a warm-up job, then:

1. idle: nothing for --idle seconds; what Redis and the processes do anyway (heartbeats, blocking
   reads, expiry sweeps) as rates, subtracted from the phases below;
2. unwatched: uploads the clips one after another, waits until every session has ended;
3. watched: the same with --subscribers SSE clients per session (through the one API instance).

Redis: `INFO everything` before and after each phase (commandstats, which counts a script's
inner commands too, total_net_input_bytes, total_net_output_bytes, and the main thread's CPU);
the script's own INFO and HGET polls are subtracted: their commands and bytes exactly (the RESP
bytes are computed), their Redis CPU as one XADD each (redis-benchmark on the same server, last).
CPU of the service: utime + stime from /proc of every process under the API and under the worker
host, sampled 5 times a second, so a process that ends keeps what it used (10 ms ticks: run
enough clips). Then, per session: the length of its event stream, MEMORY USAGE of its keys, and
storage: the files in DATA_DIR/<session id>.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import redis
from scaleout import FPS, bench_server, make_clips, redis_server, wait_workers, worker_process

from common import BenchServer, cpu_s, rss_mb
from tests.support.videogen import Segment, write_video
from vidpulse.server.backends.redis.connection import Keys

TERMINAL = {"succeeded", "failed", "cancelled"}
# The script's own commands, subtracted from what the service sent.
OWN_COMMANDS = ("info",)
KEYS = Keys()
# Commands that only the job stream takes (server/backends/redis/queue.py; a script's inner commands
# count too, and each script that checks the entry runs one XPENDING: as many script calls). Each job
# also adds and deletes its entry (XADD, XDEL) and enters and leaves the waiting list (ZADD, ZRANK,
# ZREM) in the stream's slot: JOB_ENTRY_COMMANDS more, not told apart from the same commands on other
# keys. A running job's heartbeat (one a second, server/jobs/dispatch.py) is a script call with an
# XPENDING and an XCLAIM; the attempt's beginning holds the entry once the same way.
JOB_STREAM_COMMANDS = ("xreadgroup", "xautoclaim", "xclaim", "xpending", "xack")
JOB_ENTRY_COMMANDS = 5
HEARTBEAT_COMMANDS = 3


def resp_size(*parts: str) -> int:
    """Bytes of a command as a client sends it (a RESP array of bulk strings)."""
    size = len(f"*{len(parts)}\r\n")
    for part in parts:
        size += len(f"${len(part.encode())}\r\n") + len(part.encode()) + 2
    return size


def bulk_size(value: bytes | None) -> int:
    """Bytes of a bulk-string reply."""
    return 5 if value is None else len(f"${len(value)}\r\n") + len(value) + 2


@dataclass
class RedisMeter:
    """Snapshots of the server's counters, less what the meter itself asked and was told."""

    client: redis.Redis
    own_in: int = 0
    own_out: int = 0
    own_calls: Counter[str] = field(default_factory=Counter)

    def snapshot(self) -> dict[str, Any]:
        conn = self.client.connection_pool.get_connection()
        try:
            conn.send_command("INFO", "everything")
            raw: bytes = conn.read_response(disable_decoding=True)
        finally:
            self.client.connection_pool.release(conn)
        self.own_in += resp_size("INFO", "everything")
        self.own_out += bulk_size(raw)
        self.own_calls["info"] += 1
        info = _parse_info(raw.decode())
        calls = {name.removeprefix("cmdstat_"): int(fields["calls"])
                 for name, fields in info.items() if name.startswith("cmdstat_") and isinstance(fields, dict)}
        # The main thread's CPU (getrusage, microseconds): the one that runs every command, so the
        # one a shard runs out of.
        cpu = float(info["used_cpu_user_main_thread"]) + float(info["used_cpu_sys_main_thread"])
        return {"calls": calls, "in": int(info["total_net_input_bytes"]), "out": int(info["total_net_output_bytes"]),
                "own_in": self.own_in, "own_out": self.own_out, "own_calls": Counter(self.own_calls), "cpu": cpu}

    def states(self, session_ids: list[str]) -> list[str | None]:
        """Each session's state from its hash, counted as the meter's own traffic."""
        pipe = self.client.pipeline(transaction=False)
        for session_id in session_ids:
            pipe.hget(KEYS.session(session_id), "state")
        replies: list[bytes | None] = pipe.execute()
        for session_id, reply in zip(session_ids, replies, strict=True):
            self.own_in += resp_size("HGET", KEYS.session(session_id), "state")
            self.own_out += bulk_size(reply)
            self.own_calls["hget"] += 1
        return [None if r is None else r.decode() for r in replies]


def _parse_info(text: str) -> dict[str, Any]:
    info: dict[str, Any] = {}
    for line in text.splitlines():
        if not line or line.startswith("#") or ":" not in line:
            continue
        key, value = line.split(":", 1)
        if "=" in value and key.startswith("cmdstat_"):
            info[key] = dict(item.split("=", 1) for item in value.split(","))
        else:
            info[key] = value
    return info


def redis_delta(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """What the service sent and was sent between two snapshots."""
    own = after["own_calls"] - before["own_calls"]
    calls = Counter({name: count - before["calls"].get(name, 0) - own.get(name, 0)
                     for name, count in after["calls"].items() if name not in OWN_COMMANDS})
    return {"calls": +calls, "in": after["in"] - before["in"] - (after["own_in"] - before["own_in"]),
            "out": after["out"] - before["out"] - (after["own_out"] - before["own_out"]), "own": sum(own.values())}


class TreeCpu:
    """CPU seconds of a process and all its descendants, sampled in a thread: each process counts
    with the last value seen, so one that ends between samples keeps (almost) all it used."""

    def __init__(self, *roots: int) -> None:
        self.roots = set(roots)
        self.seen: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._lock = threading.Lock()

    def _tree(self) -> set[int]:
        parents: dict[int, int] = {}
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                with contextlib.suppress(OSError, IndexError):
                    parents[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        tree, frontier = set(self.roots), set(self.roots)
        while frontier:
            frontier = {pid for pid, parent in parents.items() if parent in frontier} - tree
            tree |= frontier
        return tree

    def sample(self) -> float:
        with self._lock:
            for pid in self._tree():
                with contextlib.suppress(OSError):
                    self.seen[pid] = cpu_s(pid)
            return sum(self.seen.values())

    def pids(self) -> set[int]:
        return self._tree()

    def _run(self) -> None:
        while not self._stop.wait(0.2):
            self.sample()

    def __enter__(self) -> TreeCpu:
        self.sample()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


@dataclass
class Phase:
    seconds: float = 0.0
    redis: dict[str, Any] = field(default_factory=dict)
    cpu: dict[str, float] = field(default_factory=dict)  # CPU seconds of "api", "worker", "redis"
    sessions: list[str] = field(default_factory=list)
    received: int = 0


@contextlib.contextmanager
def measured(meter: RedisMeter, trees: dict[str, TreeCpu]) -> Iterator[Phase]:
    before, started = meter.snapshot(), time.monotonic()
    cpu0 = {name: tree.sample() for name, tree in trees.items()}
    phase = Phase()
    yield phase
    phase.cpu = {name: tree.sample() - cpu0[name] for name, tree in trees.items()}
    phase.seconds = time.monotonic() - started
    after = meter.snapshot()
    phase.cpu["redis"] = after["cpu"] - before["cpu"]
    phase.redis = redis_delta(before, after)


def wait_ended(meter: RedisMeter, session_ids: list[str], timeout: float = 900) -> None:
    left, deadline = list(session_ids), time.monotonic() + timeout
    while left:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{len(left)} sessions did not end")
        states = meter.states(left)
        failed = [s for s in states if s in ("failed", "cancelled")]
        if failed:
            raise RuntimeError(f"a session ended {failed[0]}")
        left = [i for i, state in zip(left, states, strict=True) if state not in TERMINAL]
        time.sleep(0.5)


def subscribe(url: str, session_id: str) -> int:
    """One SSE client until the session's terminal event; the events it received."""
    received = 0
    with httpx.stream("GET", f"{url}/api/sessions/{session_id}/events", timeout=120) as response:
        for line in response.iter_lines():
            if line.startswith("data: "):
                received += 1
                if json.loads(line[6:]).get("type") in TERMINAL:
                    break
    return received


def run_sessions(server: BenchServer, meter: RedisMeter, clips: list[Path], subscribers: int,
                 phase: Phase) -> None:
    with ThreadPoolExecutor(max_workers=max(1, subscribers * len(clips))) as pool:
        futures = []
        for clip in clips:
            session_id = server.upload(clip)
            phase.sessions.append(session_id)
            futures += [pool.submit(subscribe, server.url, session_id) for _ in range(subscribers)]
        wait_ended(meter, phase.sessions)
        phase.received = sum(f.result() for f in futures)


def replay_all(server: BenchServer, session_ids: list[str], subscribers: int, phase: Phase) -> None:
    """`subscribers` SSE clients for each ended session: a late join (the snapshot, then the
    terminal event), with no live events to follow."""
    with ThreadPoolExecutor(max_workers=max(1, subscribers)) as pool:
        for session_id in session_ids:
            phase.received += sum(pool.map(subscribe, [server.url] * subscribers, [session_id] * subscribers))
    phase.sessions = list(session_ids)


def redis_calibration(port: int, meter: RedisMeter, requests: int = 50_000) -> dict[str, float]:
    """Redis main-thread CPU per XADD from redis-benchmark (10 clients, no pipelining) on this
    machine, to carry the figures above to other hardware in simple-command units."""
    before = meter.snapshot()
    started = time.monotonic()
    subprocess.run(["redis-benchmark", "-p", str(port), "-n", str(requests), "-c", "10", "-q",
                    "XADD", "vp-bench:calibration", "*", "field", "value"],
                   check=True, stdout=subprocess.DEVNULL, timeout=300)
    seconds = time.monotonic() - started
    after = meter.snapshot()
    return {"xadd_per_s": requests / seconds, "redis_cpu_us_per_xadd": (after["cpu"] - before["cpu"]) / requests * 1e6}


def session_facts(client: redis.Redis, data_dir: Path, session_id: str) -> dict[str, Any]:
    events = client.xrange(KEYS.events(session_id))
    kinds = Counter(fields[b"type"].decode() for _, fields in events)
    memory = sum(client.memory_usage(key) or 0 for key in (KEYS.session(session_id), KEYS.events(session_id)))
    files = [p for p in (data_dir / session_id).rglob("*") if p.is_file()]
    source = data_dir / session_id / "source"
    doc = json.loads(client.hget(KEYS.session(session_id), "doc") or b"{}")
    wall = datetime.fromisoformat(doc["finished_at"]) - datetime.fromisoformat(doc["started_at"])
    return {"events": len(events), "kinds": kinds, "redis_bytes": memory, "files": len(files),
            "file_bytes": sum(p.stat().st_size for p in files), "source_bytes": source.stat().st_size,
            "wall_s": wall.total_seconds()}


def job_stream(phase: Phase, idle: Phase, count: int, workers: int) -> dict[str, float]:
    """What the job stream's slot does: per session, apart from the heartbeats (which go with the
    job's length), per heartbeat, and per idle worker process and second (its polls for jobs)."""
    calls = phase.redis["calls"]
    total = (sum(calls.get(c, 0) for c in JOB_STREAM_COMMANDS) + calls.get("xpending", 0)) / count + JOB_ENTRY_COMMANDS
    heartbeats = max(0.0, calls.get("xclaim", 0) / count - 1)
    idle_calls = sum(idle.redis["calls"].get(c, 0) for c in JOB_STREAM_COMMANDS)
    return {"commands_per_session": total, "heartbeats_per_session": heartbeats,
            "commands_per_session_less_heartbeats": total - HEARTBEAT_COMMANDS * heartbeats,
            "idle_commands_per_s_per_worker": idle_calls / idle.seconds / workers}


def per_session(phase: Phase, idle: Phase, count: int) -> dict[str, float]:
    """A phase's costs per session, less what the idle rates account for over its length."""
    def rate(value: float, idle_value: float) -> float:
        return (value - idle_value / idle.seconds * phase.seconds) / count

    idle_calls = sum(idle.redis["calls"].values())
    return {
        "redis_commands": rate(sum(phase.redis["calls"].values()), idle_calls),
        "redis_in_bytes": rate(phase.redis["in"], idle.redis["in"]),
        "redis_out_bytes": rate(phase.redis["out"], idle.redis["out"]),
        **{f"{name}_cpu_s": rate(phase.cpu[name], idle.cpu[name]) for name in phase.cpu},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clips", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each clip")
    parser.add_argument("--size", default="1280x720")
    parser.add_argument("--workers", type=int, default=1, help="analysis processes of the worker host")
    parser.add_argument("--subscribers", type=int, default=2, help="SSE clients per session in the watched phase")
    parser.add_argument("--idle", type=float, default=20.0, help="seconds of the idle phase")
    parser.add_argument("--sessions-per-hour", type=float, default=10_000, help="scale on paper: the load")
    parser.add_argument("--video-s", type=float, default=60.0, help="scale on paper: seconds of video a session")
    parser.add_argument("--live-subscribers", type=float, default=100_000, help="scale on paper: SSE clients")
    parser.add_argument("--events-per-subscriber-s", type=float, nargs="+", default=[10.0, 1.0],
                        help="scale on paper: events a second each subscriber receives (PROGRESS_HZ while it runs)")
    parser.add_argument("--upload-mbit-s", type=float, default=5.0, help="scale on paper: the uploads' bitrate")
    parser.add_argument("--reconnect-s", type=float, default=600.0,
                        help="scale on paper: each subscriber connects again this often (a late join each time)")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    load_before = os.getloadavg()

    work = Path(tempfile.mkdtemp(prefix="vidpulse-costs-"))
    data_dir = work / "data"
    data_dir.mkdir()
    try:
        clips = make_clips(work, args.clips, args.seconds, (width, height))
        warmup = work / "warmup.mp4"
        write_video(warmup, [Segment("scene", FPS, seed=9999)], fps=FPS, size=(width, height))
        with redis_server(work) as port:
            url = f"redis://127.0.0.1:{port}/1"
            client = redis.Redis(port=port, db=1)
            meter = RedisMeter(client)
            with worker_process(data_dir, url, args.workers) as worker, \
                    bench_server(data_dir, backend="redis", redis_url=url, workers=0, max_queued=1000) as server:
                wait_workers(server, args.workers)
                wait_ended(meter, [server.upload(warmup)])
                with TreeCpu(server.process.pid) as api, TreeCpu(worker.pid) as workers:
                    trees = {"api": api, "worker": workers}
                    with measured(meter, trees) as idle:
                        time.sleep(args.idle)
                    with measured(meter, trees) as unwatched:
                        run_sessions(server, meter, clips, 0, unwatched)
                    with measured(meter, trees) as watched:
                        run_sessions(server, meter, clips, args.subscribers, watched)
                    with measured(meter, trees) as replays:
                        replay_all(server, unwatched.sessions, args.subscribers, replays)
                    rss = {name: {p: round(rss_mb(p)) for p in tree.pids() if Path(f"/proc/{p}").exists()}
                           for name, tree in trees.items()}
                facts = {name: [session_facts(client, data_dir, s) for s in phase.sessions]
                         for name, phase in (("unwatched", unwatched), ("watched", watched))}
            # With the services stopped: nothing else asks Redis meanwhile.
            calibration = redis_calibration(port, meter)
            client.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    phases = {"idle": idle, "unwatched": unwatched, "watched": watched, "replays": replays}
    for phase in phases.values():
        # The meter's own polls cost Redis CPU too: about as much as an XADD each.
        phase.cpu["redis"] -= phase.redis["own"] * calibration["redis_cpu_us_per_xadd"] / 1e6
    costs = report(args, phases, facts, rss, load_before[0])
    costs["redis_calibration"] = calibration
    costs["paper"] = {f"{rate:g} events/s each": paper(costs, args.sessions_per_hour, args.video_s,
                                                       args.live_subscribers, rate, args.reconnect_s,
                                                       args.upload_mbit_s)
                      for rate in args.events_per_subscriber_s}
    print(json.dumps(costs, indent=1, default=float))


def report(args: argparse.Namespace, phases: dict[str, Phase], facts: dict[str, list[dict[str, Any]]],
           rss: dict[str, dict[int, int]], load_before: float) -> dict[str, Any]:
    idle, unwatched, watched, replays = (phases[k] for k in ("idle", "unwatched", "watched", "replays"))
    count, subscriptions = args.clips, args.clips * args.subscribers
    cost, watched_cost = per_session(unwatched, idle, count), per_session(watched, idle, count)
    late_join = per_session(replays, idle, subscriptions)  # per subscription, not per session
    events = {name: sum(f["events"] for f in facts[name]) / count for name in ("unwatched", "watched")}
    every = facts["unwatched"] + facts["watched"]
    kinds = sum((f["kinds"] for f in every), Counter())
    measures = ("redis_commands", "redis_in_bytes", "redis_out_bytes", "redis_cpu_s")

    def extra(name: str) -> float:
        """Per event, watched less unwatched (per event: a loaded machine stretches jobs, and with
        them the number of progress events): what following costs one API instance, as an upper
        bound, since it also holds the watched phase's subscriptions."""
        return watched_cost[name] / events["watched"] - cost[name] / events["unwatched"]

    def per_second(phase: Phase) -> dict[str, float]:
        return {k: round(v / phase.seconds, 2) for k, v in phase.redis["calls"].most_common()}

    return {
        "setup": {"clips": count, "seconds": args.seconds, "size": args.size, "workers": args.workers,
                  "subscribers": args.subscribers, "cores": os.cpu_count(), "load_before": load_before,
                  "load_after": os.getloadavg()[0], "unwatched_s": unwatched.seconds},
        "idle_per_s": {"redis_commands": sum(idle.redis["calls"].values()) / idle.seconds,
                       "redis_in_bytes": idle.redis["in"] / idle.seconds,
                       "redis_out_bytes": idle.redis["out"] / idle.seconds,
                       **{f"{name}_cpu_s": value / idle.seconds for name, value in idle.cpu.items()},
                       "commands": per_second(idle)},
        "per_session": cost,
        "per_session_commands": {k: round(v / count, 1) for k, v in unwatched.redis["calls"].most_common()},
        "events_per_session": events["unwatched"],
        "event_kinds_per_session": {k: round(v / len(every), 1) for k, v in kinds.most_common()},
        "per_event": {name: cost[name] / events["unwatched"] for name in measures},
        "job_wall_s": sum(f["wall_s"] for f in facts["unwatched"]) / count,
        "worker_cpu_s_per_video_s": cost["worker_cpu_s"] / args.seconds,
        "source_mbit_s": sum(f["source_bytes"] for f in every) / len(every) * 8 / 1e6 / args.seconds,
        "storage_per_session": {"files": sum(f["files"] for f in every) / len(every),
                                "mb": sum(f["file_bytes"] for f in every) / len(every) / 1e6,
                                "artifacts_mb": sum(f["file_bytes"] - f["source_bytes"] for f in every)
                                / len(every) / 1e6},
        "redis_memory_per_event_bytes": sum(f["redis_bytes"] / f["events"] for f in every) / len(every),
        "late_join": {**late_join, "events_received": replays.received / subscriptions,
                      "commands": {k: round(v / subscriptions, 1) for k, v in replays.redis["calls"].most_common()}},
        "followed": {"events_delivered": watched.received,
                     # Events reach a following instance as published (SPUBLISH in the script that logs
                     # them); it reads the stream only to catch up on (re)subscribing, and to replay.
                     "xrange_calls_per_event": watched.redis["calls"].get("xrange", 0) / (events["watched"] * count),
                     **{f"{name}_per_event": extra(name) for name in measures}},
        # The job stream is one key, so on a Redis Cluster it is on one shard, whatever the number of
        # shards: what each session and each idle worker process costs that shard.
        "job_stream": job_stream(unwatched, idle, count, args.workers),
        "rss_mb": rss,
    }


# Scale on paper: the measured costs, and the two figures taken from docs/benchmarks.md ("On a quiet
# machine"): server CPU per delivered SSE event at 1,000 subscribers (21.7 and 21.8 us) and server
# memory per SSE subscriber (33-36 KB).
SSE_US_PER_EVENT = 21.8
SSE_KB_PER_SUBSCRIBER = 36.0
# Planning headroom: an API pod's event loop at half a core keeps p99 delivery near the 1,000-subscriber
# row of benchmarks.md; a Redis shard's main thread at half a core leaves room for spikes and forks.
API_LOOP_TARGET = 0.5
REDIS_TARGET = 0.5
WORKER_TARGET = 0.7
PROGRESS_HZ = 10  # the default: at most this many progress events a second while a job runs


def ceil(value: float) -> int:
    return int(-(-value // 1))


def paper(costs: dict[str, Any], sessions_per_hour: float, video_s: float, subscribers: float,
          events_per_subscriber_s: float, reconnect_s: float, upload_mbit_s: float,
          session_ttl_s: float = 3600) -> dict[str, float]:
    """What `sessions_per_hour` sessions of `video_s` seconds of video and `subscribers` SSE clients
    (each receiving `events_per_subscriber_s`, and connecting again every `reconnect_s`) need, from
    the measured costs. A session's events: PROGRESS_HZ progress events a second while its job runs
    (its CPU time, one core a job), its other events as measured, scenes in proportion to its length."""
    rate = sessions_per_hour / 3600
    per_event, followed, late_join = costs["per_event"], costs["followed"], costs["late_join"]
    kinds = costs["event_kinds_per_session"]
    job_s = video_s * costs["worker_cpu_s_per_video_s"]
    events = (PROGRESS_HZ * job_s + kinds.get("scene", 0) * video_s / costs["setup"]["seconds"]
              + sum(v for k, v in kinds.items() if k not in ("progress", "scene")))
    worker_cores = rate * video_s * costs["worker_cpu_s_per_video_s"]
    worker_pods = ceil(worker_cores / WORKER_TARGET / 2)  # 2 cores each (deploy/kubernetes/worker.yaml)
    delivered = subscribers * events_per_subscriber_s
    api_cores = delivered * SSE_US_PER_EVENT / 1e6 + rate * costs["per_session"]["api_cpu_s"]
    api_pods = max(2, ceil(api_cores / API_LOOP_TARGET))
    joins = subscribers / reconnect_s
    # Every API pod follows every running session: the worst case, subscribers of each session on
    # every pod (no sticky routing). The idle phase ran one API pod and one worker host.
    follows = rate * events * api_pods
    redis = {"sessions": rate * events * per_event["redis_cpu_s"],
             "following": follows * followed["redis_cpu_s_per_event"],
             "joins": joins * late_join["redis_cpu_s"],
             "background": costs["idle_per_s"]["redis_cpu_s"] / 2 * (api_pods + worker_pods)}
    out_bytes = (rate * events * per_event["redis_out_bytes"] + follows * followed["redis_out_bytes_per_event"]
                 + joins * late_join["redis_out_bytes"])
    in_bytes = rate * events * per_event["redis_in_bytes"] + joins * late_join["redis_in_bytes"]
    # The job stream's shard: every session's queue work (a heartbeat a second while its job runs), and
    # every worker process's polls while idle (an upper bound: a busy process does not poll), against
    # the XADDs a second one shard ran in the calibration, a command of the simplest kind.
    stream = costs["job_stream"]
    job_commands = (rate * (stream["commands_per_session_less_heartbeats"] + HEARTBEAT_COMMANDS * job_s)
                    + worker_pods * 2 * stream["idle_commands_per_s_per_worker"])
    return {
        "sessions_per_s": rate, "events_per_session": events, "job_cpu_s": job_s,
        "job_stream_commands_per_s": job_commands,
        "job_stream_shard_share": job_commands / costs["redis_calibration"]["xadd_per_s"],
        "worker_cores": worker_cores, "worker_pods": worker_pods,
        "delivered_events_per_s": delivered, "api_cores": api_cores, "api_pods": api_pods,
        "api_memory_gb": subscribers * SSE_KB_PER_SUBSCRIBER / 1e6,
        **{f"redis_cores_{name}": value for name, value in redis.items()},
        "redis_shards": max(1, ceil(sum(redis.values()) / REDIS_TARGET)),
        "redis_memory_mb": rate * (session_ttl_s + job_s) * events * costs["redis_memory_per_event_bytes"] / 1e6,
        "redis_in_mbit_s": in_bytes * 8 / 1e6, "redis_out_mbit_s": out_bytes * 8 / 1e6,
        # The upload at the given bitrate plus the artifacts as measured, scaled with the length.
        "storage_gb_per_hour": sessions_per_hour * (video_s * upload_mbit_s / 8 + costs["storage_per_session"][
            "artifacts_mb"] * video_s / costs["setup"]["seconds"]) / 1e3,
    }

if __name__ == "__main__":
    main()
