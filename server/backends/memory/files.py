"""The memory backend's files: a manifest and an event log per session folder, written in a thread
in batches, so a slow or stalled disk never stalls the event loop."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from vidpulse.server.storage.base import write_json_atomic, write_text_atomic
from vidpulse.server.storage.local import LocalStorage

log = logging.getLogger("vidpulse.backend")


class FileWriter:
    """Event-log lines and manifests, written in a thread in batches: per session, lines land in
    order and the manifest that lands is the latest one saved."""

    def __init__(self, storage: LocalStorage) -> None:
        self._storage = storage
        self._lines: dict[str, list[str]] = {}
        self._manifests: dict[str, dict[str, Any]] = {}
        self._logs: dict[str, list[str]] = {}  # whole logs to write instead of the file's (trimmed live logs)
        self._wake = asyncio.Event()
        self._writing: asyncio.Future[None] | None = None

    def append(self, session_id: str, line: str) -> None:
        self._lines.setdefault(session_id, []).append(line)
        self._wake.set()

    def replace(self, session_id: str, lines: list[str]) -> None:
        """The session's whole log as it now stands (lines appended before are in it)."""
        self._logs[session_id] = lines
        self._lines.pop(session_id, None)
        self._wake.set()

    def save(self, session_id: str, manifest: dict[str, Any]) -> None:
        self._manifests[session_id] = manifest
        self._wake.set()

    async def forget(self, session_id: str) -> None:
        """Drop what is pending for a session about to be removed, and let a batch in progress
        end, so no write recreates a folder after it is gone."""
        self._lines.pop(session_id, None)
        self._manifests.pop(session_id, None)
        self._logs.pop(session_id, None)
        if self._writing is not None:
            await asyncio.shield(self._writing)

    async def run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            await self.flush()

    async def flush(self) -> None:
        if self._writing is not None:
            await asyncio.shield(self._writing)  # one batch at a time keeps each file in order
        lines, manifests, logs = self._lines, self._manifests, self._logs
        if not lines and not manifests and not logs:
            return
        self._lines, self._manifests, self._logs = {}, {}, {}
        self._writing = asyncio.ensure_future(asyncio.to_thread(self._write, lines, manifests, logs))
        try:
            # Shielded: a batch already handed to the thread finishes even if this task is cancelled.
            await asyncio.shield(self._writing)
        finally:
            if self._writing.done():
                self._writing = None

    def _write(self, lines: dict[str, list[str]], manifests: dict[str, dict[str, Any]],
               logs: dict[str, list[str]]) -> None:
        for session_id in lines.keys() | manifests.keys() | logs.keys():
            paths = self._storage.paths(session_id)
            try:
                if session_id in logs:
                    write_text_atomic(paths.events, "".join(line + "\n" for line in logs[session_id]))
                if session_id in lines:
                    with paths.events.open("a") as log_file:
                        log_file.write("".join(line + "\n" for line in lines[session_id]))
                if session_id in manifests:
                    write_json_atomic(paths.manifest, manifests[session_id])
            except FileNotFoundError:
                pass  # removed meanwhile
            except OSError:
                log.exception("could not write the files of %s", session_id)


