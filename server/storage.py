"""Where a session's files live under DATA_DIR, and the only code that removes them."""

from __future__ import annotations

import json
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_SESSION_DIR = re.compile(r"^s_[0-9a-f]{32}$")
_UNSAFE = re.compile(r"[^A-Za-z0-9._ -]+")


@dataclass(frozen=True)
class SessionPaths:
    root: Path

    @property
    def source(self) -> Path:
        return self.root / "source"

    @property
    def artifacts(self) -> Path:
        return self.root / "artifacts"

    @property
    def manifest(self) -> Path:
        return self.root / "session.json"

    @property
    def events(self) -> Path:
        return self.root / "events.jsonl"

    @property
    def report(self) -> Path:
        return self.artifacts / "report.json"

    def artifact(self, name: str) -> Path | None:
        """The artifact called `name`, or None when the name could leave the artifacts folder."""
        if not name or name != Path(name).name or name.startswith("."):
            return None
        candidate = (self.artifacts / name).resolve()
        if candidate.parent != self.artifacts.resolve() or not candidate.is_file():
            return None
        return candidate


class Storage:
    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir

    def prepare(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)

    def paths(self, session_id: str) -> SessionPaths:
        if not _SESSION_DIR.match(session_id):
            raise ValueError(f"not a session id: {session_id!r}")
        return SessionPaths(self.data_dir / session_id)

    def create(self, session_id: str) -> SessionPaths:
        paths = self.paths(session_id)
        paths.artifacts.mkdir(parents=True)
        return paths

    def remove(self, session_id: str) -> None:
        shutil.rmtree(self.paths(session_id).root, ignore_errors=True)

    def clear_artifacts(self, session_id: str) -> None:
        artifacts = self.paths(session_id).artifacts
        shutil.rmtree(artifacts, ignore_errors=True)
        artifacts.mkdir(parents=True, exist_ok=True)

    def session_dirs(self) -> list[str]:
        if not self.data_dir.is_dir():
            return []
        return sorted(p.name for p in self.data_dir.iterdir() if p.is_dir() and _SESSION_DIR.match(p.name))

    def remove_orphans(self, owned: set[str]) -> list[str]:
        """Remove session-shaped folders that no session owns (left by a crash mid-upload)."""
        orphans = [name for name in self.session_dirs() if name not in owned]
        for name in orphans:
            self.remove(name)
        return orphans


def write_json_atomic(path: Path, payload: Any) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(payload, separators=(",", ":")))
    os.replace(tmp, path)


def safe_filename(name: str | None, fallback: str = "upload") -> str:
    """A display name for an uploaded file: no directories, no control characters, bounded length."""
    base = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    cleaned = _UNSAFE.sub("_", base).strip(" .")[:200]
    return cleaned or fallback
