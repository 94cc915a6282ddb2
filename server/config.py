"""Settings, read once from the environment; every field has a default that works on a laptop."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

LOG_LEVELS = ("critical", "error", "warning", "info", "debug")


class ConfigError(ValueError):
    pass


def _split(value: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in value.split(",") if part.strip())


@dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 8000
    data_dir: Path = Path("./data")
    workers: int = 2
    backend: str = "memory"
    redis_url: str = "redis://localhost:6379/0"
    # REDIS_URL names any node of a Redis Cluster (server/backends/redis/connection.py lays out the keys).
    redis_cluster: bool = False
    # Every key and channel starts with it: deployments sharing a Redis keep apart (a cluster has database 0 only).
    redis_prefix: str = "vp:"
    max_upload_mb: int = 2048
    max_queued: int = 100
    session_ttl_s: float = 3600.0
    progress_hz: float = 10.0
    api_keys: tuple[str, ...] = ()
    cors_origins: tuple[str, ...] = ()
    log_level: str = "info"
    # Where session files live: `local` (DATA_DIR) or `s3` (DATA_DIR is then private scratch).
    # Credentials and region come from the standard AWS_* variables (docs/deployment.md).
    storage: str = "local"
    s3_endpoint_url: str = ""
    s3_bucket: str = ""
    s3_prefix: str = "vidpulse/"
    # Webhooks (server/notify/webhooks.py): WEBHOOK_SECRET is `whsec_` + base64, as Standard Webhooks has it.
    webhook_url: str = ""
    webhook_secret: str = ""
    webhook_retry_s: float = 5.0
    # How long an attempt waits for the receiver's answer; below webhooks.LEASE_S (60 s).
    webhook_timeout_s: float = 10.0
    webhook_max_attempts: int = 10
    # Operators need these too: see docs/api.md.
    job_timeout_s: float = 3600.0
    probe_timeout_s: float = 15.0
    probe_processes: int = 2
    job_visibility_s: float = 30.0
    worker_nice: int = 10
    subscriber_queue: int = 64
    sse_ping_s: float = 15.0
    redis_outage_grace_s: float = 5.0
    static_dir: Path | None = field(default=None)
    # Outbound requests (URL ingest, webhooks) may reach loopback/private addresses: see server/outbound.py.
    allow_private_urls: bool = False
    # An unfinished resumable upload (tus) is removed this long after its last byte arrived.
    upload_ttl_s: float = 86400.0
    # URL ingest: seconds to connect and between two reads of the body.
    fetch_timeout_s: float = 30.0
    # Live sessions (docs/api.md, "Live sources"): the longest one (its max_duration_s at most), how many
    # may be unfinished at once (0: as many as the deployment has workers), and how long their progress and
    # levels events stay in the log.
    live_max_s: float = 86400.0
    max_live: int = 0
    live_log_s: float = 3600.0

    @property
    def max_upload_bytes(self) -> int:
        return self.max_upload_mb * 1024 * 1024

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = env.get(f.name.upper())
            if raw is None or raw == "":
                continue
            values[f.name] = _parse(f.name, f.type, raw)
        settings = replace(cls(**values), **overrides)
        settings.validate()
        return settings

    def validate(self) -> None:
        if self.log_level.lower() not in LOG_LEVELS:
            raise ConfigError(f"LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}, not {self.log_level!r}")
        if self.backend not in ("memory", "redis"):
            raise ConfigError(f"BACKEND must be 'memory' or 'redis', not {self.backend!r}")
        if self.storage not in ("local", "s3"):
            raise ConfigError(f"STORAGE must be 'local' or 's3', not {self.storage!r}")
        if self.storage == "s3" and not self.s3_bucket:
            raise ConfigError("STORAGE=s3 needs S3_BUCKET")
        if self.storage == "s3" and self.backend != "redis":
            raise ConfigError("STORAGE=s3 needs BACKEND=redis: the memory backend keeps its state on local disk")
        if self.redis_cluster and self.backend != "redis":
            raise ConfigError("REDIS_CLUSTER=1 needs BACKEND=redis")
        if self.redis_cluster and urlsplit(self.redis_url).path.strip("/") not in ("", "0"):
            raise ConfigError("REDIS_CLUSTER=1: a Redis Cluster has database 0 only; REDIS_URL must not name another")
        if not self.redis_prefix or "{" in self.redis_prefix or "}" in self.redis_prefix:
            raise ConfigError("REDIS_PREFIX must not be empty or hold braces (they would make it every key's hash tag)")
        if self.probe_processes < 1:
            raise ConfigError("PROBE_PROCESSES must be 1 or more")
        if self.workers < 0:
            raise ConfigError("WORKERS must be 0 or more")
        if self.progress_hz <= 0:
            raise ConfigError("PROGRESS_HZ must be above 0")
        if self.upload_ttl_s <= 0 or self.fetch_timeout_s <= 0:
            raise ConfigError("UPLOAD_TTL_S and FETCH_TIMEOUT_S must be above 0")
        if self.max_upload_mb <= 0 or self.max_queued <= 0:
            raise ConfigError("MAX_UPLOAD_MB and MAX_QUEUED must be above 0")
        if self.webhook_retry_s <= 0 or self.webhook_max_attempts < 1:
            raise ConfigError("WEBHOOK_RETRY_S must be above 0 and WEBHOOK_MAX_ATTEMPTS at least 1")
        if self.live_max_s < 1 or self.max_live < 0 or self.live_log_s <= 0:
            raise ConfigError("LIVE_MAX_S must be at least 1, MAX_LIVE 0 or more, LIVE_LOG_S above 0")
        if not 0 < self.webhook_timeout_s < 60:
            raise ConfigError("WEBHOOK_TIMEOUT_S must be above 0 and below 60 (a delivery's lease)")


def _parse(name: str, type_name: Any, raw: str) -> Any:
    kind = str(type_name)
    if kind == "bool":
        return _parse_bool(name, raw)
    try:
        if kind == "int":
            return int(raw)
        if kind == "float":
            return float(raw)
        if kind.startswith("tuple"):
            return _split(raw)
        if "Path" in kind:
            return Path(raw)
    except ValueError as exc:
        raise ConfigError(f"{name.upper()}={raw!r} is not a valid {kind}") from exc
    return raw


def _parse_bool(name: str, raw: str) -> bool:
    value = raw.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name.upper()}={raw!r} is not a valid bool (use 1 or 0)")
