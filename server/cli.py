"""`vidpulse serve | worker | analyze | submit | watch`."""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import socket
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vidpulse.server.config import ConfigError, Settings

if TYPE_CHECKING:
    import uvicorn  # imported where it serves: `analyze` and `submit` do without it
    from starlette.types import ASGIApp


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
    analyze.add_argument("--qc", metavar="PROFILE", help="check against a delivery profile (ebu_r128, atsc_a85, "
                         "streaming, broadcast_hd): exit 3 when the file fails it")

    from vidpulse.client import submit
    from vidpulse.client.options import add_option_argument

    add_option_argument(analyze)
    submit.add_arguments(commands.add_parser("submit", help="upload to a server, follow it, fetch the results"))
    watch = commands.add_parser("watch", help="follow a live source without a server, printing its incidents")
    watch.add_argument("url", help="an HLS playlist (http, https), or an rtmp:// or rtsp:// stream")
    watch.add_argument("--out", type=Path, help="where the report goes (default: NAME.vidpulse/)")
    add_option_argument(watch)

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
    if args.command == "watch":
        return _watch(args)
    return _analyze(args)


def _webhook_problem(settings: Settings) -> str | None:
    import asyncio

    from vidpulse.server.notify.webhooks import startup_problem

    return asyncio.run(startup_problem(settings))


def _serve(settings: Settings, args: argparse.Namespace) -> int:
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
    try:
        listener = _listen(settings.host, settings.port)
    except OSError as exc:
        print(f"vidpulse: cannot listen on {settings.host}:{settings.port}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    configure_logging(settings.log_level)
    server = _uvicorn_on(listener, create_app(settings), settings)
    with listener, contextlib.suppress(KeyboardInterrupt):  # Ctrl-C: uvicorn has shut down already
        server.run(sockets=[listener])
    return 0 if server.started else 3  # 3: uvicorn's own exit code for a failed startup


def _uvicorn_on(listener: socket.socket, app: ASGIApp, settings: Settings) -> uvicorn.Server:
    import asyncio

    import uvicorn

    class Server(uvicorn.Server):
        """uvicorn, with two additions:
        - it says where it listens only when it binds the socket itself: said here once the server
          has started, in uvicorn's words;
        - stop signals. The first SIGINT or SIGTERM hands the running jobs back at once (the
          runtime's `begin_stop`) while uvicorn drains connections; a second Ctrl-C makes uvicorn
          skip both the drain and the lifespan's end, which is run here instead (the runtime's stop:
          workers ended, files flushed), bounded by _FORCED_STOP_S."""

        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets)
            if self.started:
                host, port = listener.getsockname()[:2]
                logging.getLogger("uvicorn.error").info("Uvicorn running on http://%s:%d (Press CTRL+C to quit)",
                                                        f"[{host}]" if ":" in host else host, port)

        def handle_exit(self, sig: int, frame: Any) -> None:
            first = not self.should_exit
            super().handle_exit(sig, frame)
            runtime = self._runtime()
            if first and runtime is not None:
                # A signal handler runs between two bytecodes of the event loop's thread: the
                # loop takes it from here, as it takes a call from another thread.
                with contextlib.suppress(RuntimeError):  # no loop running: the lifespan's end stops it
                    asyncio.get_running_loop().call_soon_threadsafe(runtime.begin_stop)

        async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
            await super().shutdown(sockets)
            if self.force_exit and self._runtime() is not None:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(_FORCED_STOP_S):
                        await self.lifespan.shutdown()  # returns at once if uvicorn ran it already

        def _runtime(self) -> Any:
            """The app's Runtime, from the lifespan's state (server/app.py); None before it started."""
            lifespan = getattr(self, "lifespan", None)
            return getattr(lifespan, "state", {}).get("runtime")

    return Server(uvicorn.Config(
        app, host=settings.host, port=settings.port, log_config=None, log_level=settings.log_level,
        access_log=False, timeout_graceful_shutdown=20,
        # Compression cost more CPU per subscriber than it saved on ~250-byte events
        # (docs/benchmarks.md); uvicorn's WebSocket send waits while the socket is paused, so a
        # client that stops reading blocks only its own subscription.
        ws_per_message_deflate=False, ws_max_size=1 << 20,
    ))


# How long a second Ctrl-C lets the runtime's stop take (it hands jobs back and ends workers).
_FORCED_STOP_S = 5.0


def _listen(host: str, port: int) -> socket.socket:
    """The server's socket, bound as uvicorn would bind it. Bound here, before the app starts:
    uvicorn binds only after the startup (the runtime, its workers, "vidpulse ready"), so a port
    in use would show as a started server that then stops."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


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
        """A file's progress (a bar), or a live one's (`vidpulse watch`: where it is, how far behind)."""
        now = time.monotonic()
        live = not hasattr(progress, "fraction")
        if (live or progress.fraction < 1.0) and now - self._last < 0.1:
            return
        self._last = now
        if live:
            line = f"live {progress.media_s:8.1f}s  lag {progress.lag_s:4.1f}s  {progress.fps:4.0f} fps"
        else:
            pct = progress.fraction * 100
            eta = "" if progress.eta_s is None else f" eta {progress.eta_s:.0f}s"
            filled = int(pct / 100 * 30)
            line = (f"[{'#' * filled}{'.' * (30 - filled)}] {progress.stage:<8} {pct:5.1f}%  "
                    f"{progress.frame}/{progress.total_frames}  {progress.fps:.0f} fps{eta}")
        sys.stderr.write(f"\r{line}\x1b[K")
        sys.stderr.flush()
        self.drawn = True

    def clear(self) -> None:
        """Take the bar off the line, so that what follows starts on a clean one."""
        if self.drawn:
            sys.stderr.write("\r\x1b[K")
            sys.stderr.flush()
            self.drawn = False


def _analyze(args: argparse.Namespace) -> int:
    from vidpulse.client.options import parse_options
    from vidpulse.processing import AnalysisOptions, analyze
    from vidpulse.processing.progress import no_progress

    out = args.out or args.file.with_name(args.file.name + ".vidpulse")
    bar = _ProgressBar() if sys.stderr.isatty() else None

    def run() -> dict[str, Any]:
        if not args.file.is_file():
            raise FileNotFoundError(f"{args.file} does not exist")
        flags: dict[str, Any] = {"render": True} if args.render else {}
        if args.width is not None:
            flags["width"] = args.width
        if args.qc is not None:
            flags["qc_profile"] = args.qc
        options = AnalysisOptions.from_mapping({**parse_options(args.option), **flags})
        with _output_folder(out):
            return analyze(args.file, out, options, on_progress=bar or no_progress)

    report = _reported(bar, str(args.file), run)
    if isinstance(report, int):
        return report
    failed = _qc_failed(report)
    if args.json:
        return _print_json(report) or (3 if failed else 0)
    print(f"wrote {out / 'report.json'}: {len(report.get('cuts', []))} cuts, "
          f"{len(report.get('scenes', []))} scenes", file=sys.stderr)
    return 3 if failed else 0


def _qc_failed(report: dict[str, Any]) -> bool:
    """Whether the report's delivery checks failed; if so, says which on stderr (3 is the exit code
    then: 1 stays for a file that could not be analysed)."""
    qc = report.get("qc")
    if not qc or qc["passed"]:
        return False
    failed = ", ".join(f"{c['id']} ({c['value']}, limit {c['limit']})" for c in qc["checks"] if not c["passed"])
    print(f"vidpulse: fails {qc['profile']}: {failed}", file=sys.stderr)
    return True


def _watch(args: argparse.Namespace) -> int:
    from vidpulse.client.options import parse_options
    from vidpulse.server.live.watch import incident_line, watch

    name = args.url.rstrip("/").rsplit("/", 1)[-1].split("?", 1)[0] or "live"
    out = args.out or Path(name + ".vidpulse")
    bar = _ProgressBar() if sys.stderr.isatty() else None

    def line(incident: Any) -> None:
        if bar is not None:
            bar.clear()
        print(incident_line(incident), flush=True)

    def run() -> dict[str, Any]:
        with _output_folder(out):
            return watch(args.url, out, parse_options(args.option), on_incident=line, on_progress=bar)

    report = _reported(bar, args.url, run)
    if isinstance(report, int):
        return report
    print(f"wrote {out / 'report.json'}: {len(report['scenes'])} scenes, {len(report['incidents'])} incidents, "
          f"{report['analysed']['end_s']:.1f} s", file=sys.stderr)
    return 0


def _reported(bar: _ProgressBar | None, subject: str, run: Callable[[], dict[str, Any]]) -> dict[str, Any] | int:
    """The report `run` returns, or the exit code of its failure, said in exactly one line on stderr."""
    from vidpulse.processing import AnalysisError

    try:
        report = run()
    except AnalysisError as exc:
        return _fail(bar, f"{subject}: {exc.message}", 1)
    except (OSError, ValueError) as exc:
        return _fail(bar, str(exc), 1)
    except KeyboardInterrupt:
        return _fail(bar, "interrupted", 130)
    if bar is not None:
        bar.clear()
    return report


@contextlib.contextmanager
def _output_folder(out: Path) -> Iterator[None]:
    """`out`, created with its missing parents; when the body fails, the folders it created go
    again (the analysis removes the files it wrote, processing/pipeline.py): a failed run leaves
    nothing behind, and a folder the user had stays."""
    created = [folder for folder in (out, *out.parents) if not folder.exists()]  # deepest first
    out.mkdir(parents=True, exist_ok=True)
    try:
        yield
    except BaseException:
        for folder in created:
            with contextlib.suppress(OSError):  # not empty after all: not only ours
                folder.rmdir()
        raise


def _print_json(report: dict[str, Any]) -> int:
    """The report on stdout; 1 with nothing said when the reader has gone (`| head`), as a tool
    killed by SIGPIPE says nothing: the report is in the output folder anyway."""
    try:
        json.dump(report, sys.stdout, indent=2)
        sys.stdout.write("\n")
        sys.stdout.flush()
    except BrokenPipeError:
        # What is still buffered would fail again, with a traceback, when Python flushes stdout
        # at exit: point stdout at /dev/null instead.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
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
