"""``python -m devhost``: run the Function App locally.

Exit codes: 0 after a clean shutdown (SIGINT/SIGTERM), 2 for a configuration
problem (bad argument or setting, app that does not import, unsupported route or
schedule), 3 when the port cannot be bound.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from aiohttp import web

from devhost.config import DevHostConfig, DevHostConfigError, load_local_settings
from devhost.discovery import (
    EVENT_GRID_TRIGGER,
    TIMER_TRIGGER,
    AppLoadError,
    FunctionSpec,
    discover_functions,
    load_app,
)
from devhost.dispatcher import Dispatcher
from devhost.logs import configure_logging
from devhost.routing import RouteError
from devhost.server import SHUTDOWN_GRACE_SECONDS, DevHostServer
from devhost.timers import ScheduleError, TimerScheduler
from devhost.watcher import BlobWatcher
from devhost.worker import WorkerPool, WorkerStartError

__all__ = ["main"]

logger = logging.getLogger("devhost")

EXIT_CONFIGURATION = 2
EXIT_PORT_IN_USE = 3


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m devhost",
        description="Run the Medlake Function App locally, like `func start`.",
    )
    parser.add_argument("--app", default="function_app:app", help="module:attribute")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=7071)
    parser.add_argument(
        "--workers",
        type=int,
        default=None,
        help="worker processes (default: MEDLAKE_DEVHOST_WORKERS or the CPU count)",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="concurrent invocations per worker process (default: "
        "PYTHON_THREADPOOL_THREAD_COUNT or the Python worker's min(32, cores + 4))",
    )
    parser.add_argument(
        "--settings",
        default="local.settings.json",
        help="settings file whose Values fill the environment (if it exists)",
    )
    parser.add_argument("--no-watch", action="store_true", help="no blob watcher")
    parser.add_argument("--no-timers", action="store_true", help="no timer triggers")
    parser.add_argument("--verbose", action="store_true", help="log at DEBUG level")
    return parser


class _StartupError(Exception):
    def __init__(self, message: str, exit_code: int = EXIT_CONFIGURATION) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def _event_targets(config: DevHostConfig, specs: list[FunctionSpec]) -> list[str]:
    available = [s.name for s in specs if s.trigger == EVENT_GRID_TRIGGER]
    if not config.event_functions:
        return available
    unknown = sorted(set(config.event_functions) - set(available))
    if unknown:
        raise _StartupError(
            f"MEDLAKE_DEVHOST_EVENT_FUNCTIONS names {unknown}, which are not Event "
            f"Grid functions of {config.app} (those are {available})"
        )
    return list(config.event_functions)


def _build_watcher(
    config: DevHostConfig, targets: list[str], dispatcher: Dispatcher
) -> BlobWatcher | None:
    if not config.watch:
        return None
    if not targets:
        logger.info("watcher off: the app has no Event Grid function")
        return None
    # Imported here: the storage contract is the app's, read the way the app
    # reads it, after local.settings.json has filled the environment.
    from lib.errors import ConfigurationError
    from lib.settings import Settings
    from lib.storage import blob_service_client

    try:
        service = blob_service_client(Settings.from_env())
    except ConfigurationError as exc:
        raise _StartupError(f"watcher: {exc}") from exc
    return BlobWatcher(service, dispatcher, targets, config.poll_seconds)


async def _serve(config: DevHostConfig, log_level: int) -> None:
    try:
        specs = discover_functions(load_app(config.app))
    except AppLoadError as exc:
        raise _StartupError(str(exc)) from exc
    targets = _event_targets(config, specs)

    pool = WorkerPool(config.app, config.workers, log_level, config.threads)
    dispatcher = Dispatcher(
        pool,
        max_deliveries=config.max_deliveries,
        retry_base_seconds=config.retry_base_seconds,
    )
    try:
        timer_specs = [s for s in specs if s.trigger == TIMER_TRIGGER]
        scheduler = (
            TimerScheduler(timer_specs, dispatcher)
            if config.timers and timer_specs
            else None
        )
        watcher = _build_watcher(config, targets, dispatcher)
        server = DevHostServer(config, specs, dispatcher, watcher, scheduler)
    except (RouteError, ScheduleError) as exc:
        pool.shutdown()
        raise _StartupError(str(exc)) from exc

    runner = web.AppRunner(server.app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, config.host, config.port, shutdown_timeout=2.0)
    try:
        await site.start()
    except OSError as exc:
        await runner.cleanup()
        pool.shutdown()
        raise _StartupError(
            f"cannot listen on {config.host}:{config.port}: {exc.strerror}",
            EXIT_PORT_IN_USE,
        ) from exc

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)

    for spec in specs:
        described = spec.route if spec.route and spec.trigger == "httpTrigger" else ""
        logger.info("function %s (%s) %s", spec.name, spec.trigger, described)
    logger.info(
        "listening on http://%s:%d workers=%d threads=%d watcher=%s timers=%s",
        config.host,
        config.port,
        config.workers,
        config.threads,
        "on" if watcher else "off",
        "on" if scheduler else "off",
    )

    try:
        server.worker_pids = await pool.warm_up()
    except WorkerStartError as exc:
        await runner.cleanup()
        pool.shutdown()
        raise _StartupError(
            "the worker processes could not load the app; see the log above"
        ) from exc
    server.state = "running"
    background = []
    if watcher:
        background.append(asyncio.create_task(watcher.run(stop)))
    if scheduler:
        background.append(asyncio.create_task(scheduler.run(stop)))

    await stop.wait()

    # Shutdown as the host does: stop accepting, stop the triggers, give running
    # invocations a grace period, then stop the workers.
    logger.info("shutting down")
    server.state = "stopping"
    await site.stop()
    await asyncio.gather(*background, return_exceptions=True)
    if not await dispatcher.drain(SHUTDOWN_GRACE_SECONDS):
        logger.warning(
            "work still running after %ss was cancelled", SHUTDOWN_GRACE_SECONDS
        )
    await runner.cleanup()
    pool.shutdown()
    if watcher:
        watcher.service.close()
    logger.info("stopped")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the dev host until SIGINT or SIGTERM.

    Parameters
    ----------
    argv : Sequence[str] | None
        Arguments without the program name; ``sys.argv[1:]`` by default.

    Returns
    -------
    int
        The process exit code.
    """
    args = _parser().parse_args(argv)
    log_level = logging.DEBUG if args.verbose else logging.INFO
    configure_logging(log_level)
    # The app root is the working directory, as for `func start`.
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        copied = load_local_settings(Path(args.settings), os.environ)
        config = DevHostConfig.from_env(
            os.environ,
            app=args.app,
            host=args.host,
            port=args.port,
            workers=args.workers,
            threads=args.threads,
            watch=not args.no_watch,
            timers=not args.no_timers,
        )
    except DevHostConfigError as exc:
        logger.error("configuration error: %s", exc)
        return EXIT_CONFIGURATION
    if copied:
        logger.info("loaded %d values from %s", copied, args.settings)

    try:
        asyncio.run(_serve(config, log_level))
    except _StartupError as exc:
        logger.error("%s", exc)
        return exc.exit_code
    except KeyboardInterrupt:
        # Ctrl-C before the signal handlers were installed (during start-up).
        logger.info("interrupted during start-up")
    return 0
