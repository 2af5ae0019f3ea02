"""Worker processes that run event and timer functions.

The Functions host runs the Python worker out of process and scales it with
``FUNCTIONS_WORKER_PROCESS_COUNT``; the dev host mirrors that with a process
pool. Each worker imports the app once (the pool initializer) and invokes
functions by name with picklable payloads. Workers are started with the "spawn"
method: the host process runs an event loop and threads, which ``fork`` would
copy in a broken state.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import multiprocessing
import os
import signal
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any

__all__ = ["InvocationResult", "WorkerPool"]

logger = logging.getLogger(__name__)

WORKER_CRASHED = "WorkerCrashed"
# Idle workers exit on the pool's shutdown sentinel well within this.
IDLE_EXIT_SECONDS = 2.0

# Filled in each worker process by _initialize: function name -> (function,
# trigger type, argument name).
_FUNCTIONS: dict[str, tuple[Callable[..., Any], str, str]] = {}


@dataclass(frozen=True)
class InvocationResult:
    """Outcome of one invocation.

    Parameters
    ----------
    ok : bool
        The function returned without raising.
    error_type, error_message : str
        The exception's class name and message when ``ok`` is false.
    pid : int
        The worker process that ran it (0 when no worker answered).
    """

    ok: bool
    error_type: str = ""
    error_message: str = ""
    pid: int = 0


def _initialize(app_reference: str, log_level: int) -> None:
    # Runs once in every worker: the worker is an entry point, so it configures
    # its own logging like the host process does.
    from devhost.discovery import discover_functions, load_app
    from devhost.logs import configure_logging

    configure_logging(log_level)
    # Ctrl-C and `make down` signal the whole process group. The host decides
    # when workers stop (after the in-flight grace period), so workers ignore
    # both signals instead of dying mid-invocation.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    app = load_app(app_reference)
    for spec in discover_functions(app):
        _FUNCTIONS[spec.name] = (spec.user_function, spec.trigger, spec.argument)


def _trigger_input(trigger: str, payload: dict[str, Any]) -> Any:
    import azure.functions as func
    from azure.functions.timer import TimerRequest

    from devhost.events import parse_time

    if trigger == "timerTrigger":
        return TimerRequest(past_due=bool(payload.get("past_due", False)))
    time_text = payload.get("eventTime")
    return func.EventGridEvent(
        id=payload["id"],
        data=payload.get("data"),  # type: ignore[arg-type]
        topic=payload.get("topic", ""),
        subject=payload.get("subject", ""),
        event_type=payload["eventType"],
        event_time=parse_time(time_text) if time_text else None,
        data_version=payload.get("dataVersion", ""),
    )


def _invoke(
    name: str, payload: dict[str, Any], correlation_id: str
) -> InvocationResult:
    """Run one function in this worker; never raises for the function's errors."""
    function, trigger, argument = _FUNCTIONS[name]
    started = time.monotonic()
    try:
        result = function(**{argument: _trigger_input(trigger, payload)})
        if inspect.isawaitable(result):
            asyncio.run(_await(result))
    except Exception as exc:
        # The host logs the traceback of a failed invocation with its id; the
        # message is the app's, which names keywords, never patient values.
        logger.exception("function %s failed correlation_id=%s", name, correlation_id)
        return InvocationResult(False, type(exc).__name__, str(exc), os.getpid())
    logger.debug(
        "function %s done correlation_id=%s duration_ms=%d",
        name,
        correlation_id,
        (time.monotonic() - started) * 1000,
    )
    return InvocationResult(True, pid=os.getpid())


async def _await(awaitable: Any) -> Any:
    return await awaitable


def _ping() -> int:
    return os.getpid()


class WorkerPool:
    """A process pool that survives crashed workers.

    Parameters
    ----------
    app_reference : str
        ``module:attribute`` each worker imports.
    size : int
        Number of worker processes; also the number of concurrent invocations.
    log_level : int
        Logging level for the workers.
    """

    def __init__(self, app_reference: str, size: int, log_level: int) -> None:
        self.app_reference = app_reference
        self.size = size
        self.log_level = log_level
        self.crashes = 0
        # Invocations waiting for a free worker (the watcher defers listing
        # while there is a backlog: see BlobWatcher.run).
        self.waiting = 0
        self._context = multiprocessing.get_context("spawn")
        self._executor = self._new_executor()
        # Submitting no more than `size` invocations at a time keeps queued work
        # in the host, so a crashed worker fails at most the invocations running.
        self._slots = asyncio.Semaphore(size)

    def _new_executor(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            max_workers=self.size,
            mp_context=self._context,
            initializer=_initialize,
            initargs=(self.app_reference, self.log_level),
        )

    async def warm_up(self) -> list[int]:
        """Start every worker (importing the app) and return their process ids."""
        loop = asyncio.get_running_loop()
        pids = await asyncio.gather(
            *(loop.run_in_executor(self._executor, _ping) for _ in range(self.size))
        )
        return sorted(set(pids))

    async def invoke(
        self, name: str, payload: dict[str, Any], correlation_id: str
    ) -> InvocationResult:
        """Run function ``name`` in a worker.

        A worker that dies (``os._exit``, a segfault, the OOM killer) breaks the
        whole pool; the pool is rebuilt and the invocation reported as failed,
        so the delivery is retried like a host restart would cause.
        """
        loop = asyncio.get_running_loop()
        self.waiting += 1
        try:
            await self._slots.acquire()
        finally:
            self.waiting -= 1
        try:
            executor = self._executor
            try:
                return await loop.run_in_executor(
                    executor, _invoke, name, payload, correlation_id
                )
            except BrokenProcessPool:
                if executor is self._executor:
                    self.crashes += 1
                    logger.error(
                        "a worker process died; restarting the pool correlation_id=%s",
                        correlation_id,
                    )
                    self._executor = self._new_executor()
                    executor.shutdown(wait=False, cancel_futures=True)
                return InvocationResult(
                    False, WORKER_CRASHED, "the worker process exited unexpectedly"
                )
            except Exception as exc:
                # Not the function's error (that is caught in the worker): the
                # payload did not pickle or the pool is shutting down.
                logger.exception(
                    "invocation could not be run correlation_id=%s", correlation_id
                )
                return InvocationResult(False, type(exc).__name__, str(exc))
        finally:
            self._slots.release()

    def shutdown(self) -> None:
        """Stop the workers now, killing any still running a function."""
        executor = self._executor
        # ProcessPoolExecutor has no public way to stop a busy worker; after the
        # grace period the host must not hang on one. Workers ignore SIGTERM
        # (see _initialize), so a stuck one is killed.
        processes = list(getattr(executor, "_processes", {}).values())
        executor.shutdown(wait=False, cancel_futures=True)
        deadline = time.monotonic() + IDLE_EXIT_SECONDS
        for process in processes:
            process.join(timeout=max(0.0, deadline - time.monotonic()))
            if process.is_alive():
                process.kill()
                process.join(timeout=5)
