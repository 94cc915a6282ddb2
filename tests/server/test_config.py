from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from vidpulse.server.config import ConfigError, Settings


def test_defaults_work_on_a_laptop():
    settings = Settings.from_env({})
    assert settings.port == 8000 and settings.workers == 2 and settings.backend == "memory"
    assert settings.data_dir == Path("./data") and settings.max_upload_mb == 2048
    assert settings.max_queued == 100 and settings.session_ttl_s == 3600 and settings.progress_hz == 10
    assert settings.api_keys == ()


def test_environment_overrides():
    settings = Settings.from_env({"PORT": "9001", "API_KEYS": "a, b", "CORS_ORIGINS": "http://x",
                                  "DATA_DIR": "/tmp/v", "PROGRESS_HZ": "4.5", "BACKEND": "redis"})
    assert settings.port == 9001 and settings.api_keys == ("a", "b")
    assert settings.cors_origins == ("http://x",) and settings.data_dir == Path("/tmp/v")
    assert settings.progress_hz == 4.5 and settings.backend == "redis"


@pytest.mark.parametrize("env", [{"PORT": "eighty"}, {"BACKEND": "sqlite"}, {"WORKERS": "-1"},
                                 {"PROGRESS_HZ": "0"},
                                 {"ALLOW_PRIVATE_URLS": "maybe"}])
def test_bad_values_are_refused_with_the_name(env):
    with pytest.raises(ConfigError):
        Settings.from_env(env)


@pytest.mark.parametrize("env", [{"LOG_LEVEL": "loud"}, {"WORKERS": "-1"}, {"BACKEND": "mysql"},
                                 {"PORT": "eighty"}])
def test_serve_refuses_a_bad_setting_with_one_line(env, tmp_path):
    vidpulse = Path(sys.executable).with_name("vidpulse")
    done = subprocess.run([str(vidpulse), "serve"], env={**os.environ, "DATA_DIR": str(tmp_path), **env},
                          capture_output=True, text=True, timeout=60)
    name = next(iter(env))
    assert done.returncode != 0
    assert done.stderr.count("\n") == 1 and name in done.stderr and "Traceback" not in done.stderr, done.stderr


def test_storage_is_local_by_default_and_s3_needs_redis_and_a_bucket():
    settings = Settings.from_env({})
    assert settings.storage == "local" and settings.s3_prefix == "vidpulse/"
    with pytest.raises(ConfigError, match="BACKEND=redis"):
        Settings.from_env({"STORAGE": "s3", "S3_BUCKET": "b"})
    with pytest.raises(ConfigError, match="S3_BUCKET"):
        Settings.from_env({"STORAGE": "s3", "BACKEND": "redis"})
    with pytest.raises(ConfigError, match="STORAGE"):
        Settings.from_env({"STORAGE": "nfs"})
    s3 = Settings.from_env({"STORAGE": "s3", "BACKEND": "redis", "S3_BUCKET": "media",
                            "S3_ENDPOINT_URL": "http://127.0.0.1:8333", "S3_PREFIX": "prod/"})
    assert (s3.s3_bucket, s3.s3_endpoint_url, s3.s3_prefix) == ("media", "http://127.0.0.1:8333", "prod/")


@pytest.mark.parametrize(("raw", "value"), [("1", True), ("true", True), ("0", False), ("off", False)])
def test_allow_private_urls_is_a_flag(raw, value):
    assert Settings.from_env({}).allow_private_urls is False
    assert Settings.from_env({"ALLOW_PRIVATE_URLS": raw}).allow_private_urls is value


def test_a_redis_cluster_needs_the_redis_backend_database_0_and_a_prefix_without_braces():
    cluster = Settings.from_env({"BACKEND": "redis", "REDIS_CLUSTER": "1", "REDIS_URL": "redis://node-1:7000/0"})
    assert cluster.redis_cluster and cluster.redis_prefix == "vp:"
    assert not Settings.from_env({}).redis_cluster
    with pytest.raises(ConfigError, match="BACKEND=redis"):
        Settings.from_env({"REDIS_CLUSTER": "1"})
    with pytest.raises(ConfigError, match="database 0"):
        Settings.from_env({"BACKEND": "redis", "REDIS_CLUSTER": "1", "REDIS_URL": "redis://node-1:7000/3"})
    for prefix in ("{tenant}:", "a}"):
        with pytest.raises(ConfigError, match="REDIS_PREFIX"):
            Settings.from_env({"BACKEND": "redis", "REDIS_PREFIX": prefix})
    assert Settings.from_env({"BACKEND": "redis", "REDIS_PREFIX": "tenant-a:"}).redis_prefix == "tenant-a:"
