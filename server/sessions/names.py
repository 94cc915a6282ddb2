"""Names a session is known by: the digest of its owner's key and the names of its artifacts."""

from __future__ import annotations

import hashlib
from pathlib import Path

from vidpulse.server.models import Session, SessionState
from vidpulse.server.storage.base import ARTIFACTS, artifacts_prefix, check_name


def owner_of(api_key: str | None) -> str | None:
    """Sessions remember a digest of the key that created them, never the key."""
    return None if api_key is None else hashlib.sha256(api_key.encode()).hexdigest()[:24]


def artifact_name_ok(name: str) -> bool:
    """The single path check's rule, for every store: a plain file name, no folders, no dot-names."""
    return bool(name) and name == Path(name).name and not name.startswith(".") and "\\" not in name \
        and _object_name_ok(ARTIFACTS + name)


def _object_name_ok(name: str) -> bool:
    try:
        check_name(name)
    except ValueError:
        return False
    return True


def artifact_object(session: Session, name: str) -> str:
    """The stored object of the session's artifact `name` (checked by artifact_name_ok): in the folder
    of the attempt whose `succeeded` was saved, the one switch that publishes an attempt's files (a
    superseded attempt can write only its own folder, never this one)."""
    attempt = session.artifacts_attempt
    if attempt is None and session.state in (SessionState.RUNNING, SessionState.CANCELLING) and session.attempts:
        attempt = session.attempts  # the running attempt's files as it writes them (a scene's thumbnail)
    return artifacts_prefix(attempt) + name
