"""`vidpulse serve | worker | analyze | submit`."""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from vidpulse.server.config import ConfigError, Settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="vidpulse", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the HTTP service (and, by default, local workers)")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument("--workers", type=int, help="local worker processes (0: API only)")

    commands.add_parser("worker", help="run workers only (redis backend)")

    analyze = commands.add_parser("analyze", help="analyse one file without a server")
    analyze.add_argument("file", type=Path)
    analyze.add_argument("--out", type=Path, help="output folder (default: FILE.vidpulse/)")
    analyze.add_argument("--render", action="store_true", help="also write annotated.mp4")
    analyze.add_argument("--width", type=int, help="analysis width in pixels")
    analyze.add_argument("--json", action="store_true", help="print the report as JSON on stdout")

    from vidpulse.client import submit

    submit.add_arguments(commands.add_parser("submit", help="upload to a server, follow it, fetch the results"))

    args = parser.parse_args(argv)
    if args.command == "submit":
        return submit.run(args)
    try:
        settings = Settings.from_env()
    except ConfigError as exc:
        print(f"vidpulse: {exc}", file=sys.stderr)
        return 2
    if args.command in ("serve", "worker") and (problem := _webhook_problem(settings)):
        print(f"vidpulse: {problem}", file=sys.stderr)
        return 2
    if args.command == "serve":
        return _serve(settings, args)
    if args.command == "worker":
        return _worker(settings)
    return _analyze(args)


def _webhook_problem(settings: Settings) -> str | None:
    import asyncio

    from vidpulse.server.notify.webhooks import startup_problem

    return asyncio.run(startup_problem(settings))


def _serve(settings: Settings, args: argparse.Namespace) -> int:
    import uvicorn

    from vidpulse.server.app import create_app
    from vidpulse.server.logs import configure_logging

    overrides = {k: v for k, v in (("host", args.host), ("port", args.port), ("workers", args.workers))
                 if v is not None}
    try:
        settings = replace(settings, **overrides)
        settings.validate()
    except ConfigError as exc:
        print(f"vidpulse: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level)
    uvicorn.run(
        create_app(settings), host=settings.host, port=settings.port, log_config=None,
        log_level=settings.log_level, access_log=False, timeout_graceful_shutdown=20,
        # Compression cost more CPU per subscriber than it saved on ~250-byte events
        # (docs/benchmarks.md); uvicorn's WebSocket send waits while the socket is paused, so a
        # client that stops reading blocks only its own subscription.
        ws_per_message_deflate=False, ws_max_size=1 << 20,
    )
    return 0


def _worker(settings: Settings) -> int:
    if settings.backend != "redis":
        print("vidpulse: `worker` needs BACKEND=redis; `serve` runs local workers itself.", file=sys.stderr)
        return 2
    from vidpulse.server.worker_host import run_forever

    return run_forever(settings)


class _ProgressBar:
    """A bar on stderr, redrawn in place at most ten times a second; only for a terminal (off
    one, a run prints nothing but its result line or its one error line)."""

    def __init__(self) -> None:
        self._last = 0.0
        self.drawn = False

    def __call__(self, progress: Any) -> None:
        now = time.monotonic()
        if progress.fraction < 1.0 and now - self._last < 0.1:
            return
        self._last = now
        pct = progress.fraction * 100
        eta = "" if progress.eta_s is None else f" eta {progress.eta_s:.0f}s"
        text = f"{progress.stage:<8} {pct:5.1f}%  {progress.frame}/{progress.total_frames}  {progress.fps:.0f} fps{eta}"
        filled = int(pct / 100 * 30)
        sys.stderr.write(f"\r[{'#' * filled}{'.' * (30 - filled)}] {text}\x1b[K")
        sys.stderr.flush()
        self.drawn = True

    def clear(self) -> None:
        """Take the bar off the line, so that what follows starts on a clean one."""
        if self.drawn:
            sys.stderr.write("\r\x1b[K")
            sys.stderr.flush()
            self.drawn = False


def _analyze(args: argparse.Namespace) -> int:
    from vidpulse.processing import AnalysisError, AnalysisOptions, analyze
    from vidpulse.processing.progress import no_progress

    out = args.out or args.file.with_name(args.file.name + ".vidpulse")
    raw: dict[str, Any] = {"render": args.render}
    if args.width is not None:
        raw["width"] = args.width
    bar = _ProgressBar() if sys.stderr.isatty() else None
    try:
        if not args.file.is_file():
            raise FileNotFoundError(f"{args.file} does not exist")
        out.mkdir(parents=True, exist_ok=True)
        options = AnalysisOptions.from_mapping(raw)
        report = analyze(args.file, out, options, on_progress=bar or no_progress)
    except AnalysisError as exc:
        return _fail(bar, f"{args.file}: {exc.message}", 1)
    except (OSError, ValueError) as exc:
        return _fail(bar, str(exc), 1)
    except KeyboardInterrupt:
        return _fail(bar, "interrupted", 130)
    if bar is not None:
        bar.clear()
    if args.json:
        json.dump(report, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        print(f"wrote {out / 'report.json'}: {len(report.get('cuts', []))} cuts, "
              f"{len(report.get('scenes', []))} scenes", file=sys.stderr)
    return 0


def _fail(bar: _ProgressBar | None, message: str, code: int) -> int:
    """Exactly one line on stderr (the bar, if any, cleared from its line first)."""
    if bar is not None:
        bar.clear()
    print(f"vidpulse: {message}", file=sys.stderr)
    return code


if __name__ == "__main__":
    logging.basicConfig()
    sys.exit(main())
