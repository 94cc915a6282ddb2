"""The files one analysis writes into its output folder, tracked so a cancel can remove them all."""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True, slots=True)
class Artifact:
    name: str
    type: str  # media type
    bytes: int

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "type": self.type, "bytes": self.bytes}


class Artifacts:
    """Hands out paths in `out_dir` and remembers each, in the order they were claimed."""

    def __init__(self, out_dir: Path) -> None:
        self.out_dir = out_dir
        self._files: dict[str, str] = {}  # name -> media type
        self._temporary: set[Path] = set()

    def claim(self, name: str, media_type: str) -> Path:
        """The path to write `name` at; it is removed by `remove_all` whether written or not."""
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self._files[name] = media_type
        return self.out_dir / name

    def write_bytes(self, name: str, media_type: str, data: bytes) -> Path:
        """Write atomically: readers of the folder never see half a file under its real name."""
        path = self.claim(name, media_type)
        temporary = path.with_name(f".{name}.partial")
        self._temporary.add(temporary)
        temporary.write_bytes(data)
        os.replace(temporary, path)
        self._temporary.discard(temporary)
        return path

    def listing(self) -> list[Artifact]:
        return [
            Artifact(name, media_type, (self.out_dir / name).stat().st_size)
            for name, media_type in self._files.items()
            if (self.out_dir / name).exists()
        ]

    def remove_all(self) -> None:
        for path in [*(self.out_dir / name for name in self._files), *self._temporary]:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
        self._files.clear()
        self._temporary.clear()
