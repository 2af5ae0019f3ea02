"""Worker processes that run event and timer functions, several at a time.

The Functions host runs the Python worker out of process, scales it with
``FUNCTIONS_WORKER_PROCESS_COUNT`` processes, and each process runs concurrent
invocations of synchronous functions in a thread pool of
``PYTHON_THREADPOOL_THREAD_COUNT`` threads. The dev host mirrors both: ``size``
processes, each with ``threads`` threads.

Each worker imports the app once and then serves invocations sent over a pipe:
the host writes ``(id, kind, arguments)``, the worker answers ``(id, result)``
whenever an invocation finishes, in any order. Workers are started with the
"spawn" method: the host process runs an event loop and threads, which ``fork``
would copy in a broken state. A worker that dies (``os._exit``, a segfault, the
OOM killer) fails only the invocations it was running, and is replaced.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
import itertools
import logging
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any

__all__ = ["InvocationResult", "WorkerPool", "WorkerStartError"]

logger = logging.getLogger(__name__)

WORKER_CRASHED = "WorkerCrashed"
# Idle workers exit on the host's stop message well within this.
IDLE_EXIT_SECONDS = 2.0
_INVOKE = "invoke"
_PING = "ping"

# Filled in each worker process by _initialize: function name -> (function,
# trigger type, argument name).
_FUNCTIONS: dict[str, tuple[Callable[..., Any], str, str]] = {}


class WorkerStartError(RuntimeError):
    """A worker process exited before it could serve (the app failed to load)."""


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


# -- inside a worker process ---------------------------------------------------


def _initialize(app_reference: str, log_level: int) -> None:
    # The worker is an entry point, so it configures its own logging like the
    # host process does.
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


def _serve(conn: Connection, app_reference: str, log_level: int, threads: int) -> None:
    """A worker's main loop: read requests, run them in threads, answer each."""
    _initialize(app_reference, log_level)
    send_lock = threading.Lock()

    def answer(invocation_id: int, future: Future[InvocationResult]) -> None:
        error = future.exception()
        result = (
            future.result()
            if error is None
            else InvocationResult(False, type(error).__name__, str(error), os.getpid())
        )
        with send_lock:
            conn.send((invocation_id, result))

    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="invoke") as pool:
        while True:
            try:
                message = conn.recv()
            except EOFError:
                break  # the host went away
            if message is None:
                break  # the host asked us to stop; running invocations finish
            invocation_id, kind, arguments = message
            if kind == _PING:
                with send_lock:
                    conn.send((invocation_id, os.getpid()))
                continue
            future = pool.submit(_invoke, *arguments)
            future.add_done_callback(functools.partial(answer, invocation_id))


# -- in the host ---------------------------------------------------------------


@dataclass(eq=False)
class _Worker:
    process: BaseProcess
    conn: Connection
    waiting: dict[int, asyncio.Future[Any]] = field(default_factory=dict)
    alive: bool = True


class WorkerPool:
    """Worker processes, each running up to ``threads`` invocations at a time.

    Parameters
    ----------
    app_reference : str
        ``module:attribute`` each worker imports.
    size : int
        Number of worker processes.
    log_level : int
        Logging level for the workers.
    threads : int
        Concurrent invocations per process (``PYTHON_THREADPOOL_THREAD_COUNT``).
    """

    def __init__(
        self, app_reference: str, size: int, log_level: int, threads: int = 1
    ) -> None:
        self.app_reference = app_reference
        self.size = size
        self.threads = threads
        self.log_level = log_level
        self.crashes = 0
        # Invocations waiting for a free slot (the watcher defers listing while
        # there is a backlog: see BlobWatcher.run).
        self.waiting = 0
        self._context = multiprocessing.get_context("spawn")
        self._ids = itertools.count(1)
        self._workers: list[_Worker] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        # Crashed workers are replaced once the pool has started; before that a
        # worker that exits is an app that cannot load (see warm_up).
        self._started = False
        self._closed = False
        # Submitting no more than size x threads invocations at a time keeps
        # queued work in the host, so a crashed worker fails at most the
        # invocations it was running.
        self._slots = asyncio.Semaphore(size * threads)

    @property
    def capacity(self) -> int:
        """Invocations that can run at once."""
        return self.size * self.threads

    def _start_worker(self) -> _Worker:
        loop = self._running_loop()
        ours, theirs = self._context.Pipe(duplex=True)
        process = self._context.Process(
            target=_serve,
            args=(theirs, self.app_reference, self.log_level, self.threads),
            name="medlake-worker",
            daemon=True,
        )
        process.start()
        # Only the worker holds its end now: its exit closes the pipe, which
        # is how the host notices a crash.
        theirs.close()
        worker = _Worker(process, ours)
        loop.add_reader(ours.fileno(), self._on_readable, worker)
        self._workers.append(worker)
        return worker

    def _running_loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        return self._loop

    def _on_readable(self, worker: _Worker) -> None:
        try:
            invocation_id, result = worker.conn.recv()
        except (EOFError, OSError):
            self._lost(worker)
            return
        future = worker.waiting.pop(invocation_id, None)
        if future is not None and not future.done():
            future.set_result(result)

    def _lost(self, worker: _Worker) -> None:
        """A worker exited: fail what it was running and start a replacement."""
        if not worker.alive:
            return
        worker.alive = False
        self._running_loop().remove_reader(worker.conn.fileno())
        worker.conn.close()
        worker.process.join(timeout=1)
        if worker in self._workers:
            self._workers.remove(worker)
        for future in worker.waiting.values():
            if not future.done():
                future.set_exception(_WorkerDied())
        worker.waiting.clear()
        if self._closed or not self._started:
            return
        self.crashes += 1
        logger.error(
            "a worker process exited (code %s); starting another",
            worker.process.exitcode,
        )
        self._start_worker()

    def _request(
        self, worker: _Worker, kind: str, arguments: Any
    ) -> asyncio.Future[Any]:
        future: asyncio.Future[Any] = self._running_loop().create_future()
        invocation_id = next(self._ids)
        worker.waiting[invocation_id] = future
        # A broken pipe needs no handling here: the reader sees the EOF and
        # fails the future.
        with contextlib.suppress(OSError, ValueError):
            worker.conn.send((invocation_id, kind, arguments))
        return future

    async def warm_up(self) -> list[int]:
        """Start every worker (importing the app) and return their process ids.

        Raises
        ------
        WorkerStartError
            A worker exited before answering (the app failed to load in it).
        """
        while len(self._workers) < self.size:
            self._start_worker()
        pings = [self._request(worker, _PING, None) for worker in self._workers]
        try:
            pids = await asyncio.gather(*pings)
        except _WorkerDied as exc:
            raise WorkerStartError(
                "a worker process exited while loading the app"
            ) from exc
        self._started = True
        return sorted(set(pids))

    async def invoke(
        self, name: str, payload: dict[str, Any], correlation_id: str
    ) -> InvocationResult:
        """Run function ``name`` in the least busy worker.

        A worker that dies fails the invocations it was running; they are
        reported as failed, so each delivery is retried like a host restart
        would cause.
        """
        self.waiting += 1
        try:
            await self._slots.acquire()
        finally:
            self.waiting -= 1
        try:
            while len(self._workers) < self.size:
                self._start_worker()
            worker = min(self._workers, key=lambda w: len(w.waiting))
            try:
                return await self._request(
                    worker, _INVOKE, (name, payload, correlation_id)
                )
            except _WorkerDied:
                logger.error(
                    "invocation lost with its worker correlation_id=%s", correlation_id
                )
                return InvocationResult(
                    False, WORKER_CRASHED, "the worker process exited unexpectedly"
                )
        finally:
            self._slots.release()

    def shutdown(self) -> None:
        """Stop the workers now, killing any still running a function."""
        self._closed = True
        workers, self._workers = list(self._workers), []
        for worker in workers:
            with contextlib.suppress(OSError, ValueError):
                worker.conn.send(None)
        # Workers ignore SIGTERM (see _initialize); after the host's grace period
        # a stuck one is killed rather than waited for.
        deadline = time.monotonic() + IDLE_EXIT_SECONDS
        for worker in workers:
            worker.process.join(timeout=max(0.0, deadline - time.monotonic()))
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join(timeout=5)
            if worker.alive and self._loop is not None and not self._loop.is_closed():
                self._loop.remove_reader(worker.conn.fileno())
            worker.alive = False
            worker.conn.close()
            for future in worker.waiting.values():
                if not future.done():
                    future.set_exception(_WorkerDied())


class _WorkerDied(Exception):
    """The worker running an invocation exited before answering."""
