"""Where a session's files live: a local folder (`local`) or an S3 bucket (`s3`), behind the
protocols of `base`."""

from __future__ import annotations

from vidpulse.server.config import Settings
from vidpulse.server.storage.base import Storage
from vidpulse.server.storage.local import LocalStorage


def create_storage(settings: Settings) -> Storage:
    if settings.storage == "s3":
        from vidpulse.server.storage.s3 import S3Storage

        return S3Storage(settings)
    return LocalStorage(settings.data_dir)
