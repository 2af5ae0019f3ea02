"""Deliveries to event and timer functions: accounting, retries, dead-letters.

Event Grid delivers at least once: a failed delivery is retried with exponential
backoff and a little randomness, and after the subscription's maximum number of
attempts the event is dead-lettered (see "Event Grid message delivery and retry"
in the Azure docs). The dev host applies the same policy to watcher events, with
shorter delays so local runs and tests finish quickly.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from devhost.events import dead_letter_document
from devhost.worker import InvocationResult, WorkerPool

__all__ = ["MAX_RETRY_DELAY_SECONDS", "Counters", "DeadLetterSink", "Dispatcher"]

logger = logging.getLogger(__name__)

MAX_RETRY_DELAY_SECONDS = 30.0
RETRY_JITTER = 0.2


class DeadLetterSink(Protocol):
    """Where events go after their last failed attempt."""

    async def write(
        self, function: str, event: Mapping[str, Any], document: list[dict[str, Any]]
    ) -> None:
        """Store the dead-letter document of ``event`` for ``function``."""


@dataclass
class Counters:
    """Delivery counters reported by ``/runtime/status``."""

    attempted: int = 0
    succeeded: int = 0
    failed: int = 0
    retried: int = 0
    dead_lettered: int = 0
    dead_letter_failures: int = 0

    def to_json(self) -> dict[str, int]:
        """camelCase keys, like the rest of the status document."""
        return {
            "".join(
                part if i == 0 else part.title()
                for i, part in enumerate(key.split("_"))
            ): value
            for key, value in asdict(self).items()
        }


def retry_delay(attempt: int, base_seconds: float) -> float:
    """Delay before attempt ``attempt + 1``: doubled each time, capped, jittered.

    Parameters
    ----------
    attempt : int
        The attempt that just failed, from 1.
    base_seconds : float
        Delay after the first failure.
    """
    delay = min(MAX_RETRY_DELAY_SECONDS, base_seconds * 2 ** (attempt - 1))
    jittered: float = delay * random.uniform(1 - RETRY_JITTER, 1 + RETRY_JITTER)
    return min(MAX_RETRY_DELAY_SECONDS, jittered)


class Dispatcher:
    """Runs functions in the worker pool and keeps the books.

    Parameters
    ----------
    pool : WorkerPool
        Where functions run.
    max_deliveries : int
        Attempts per event before dead-lettering.
    retry_base_seconds : float
        First retry delay.
    """

    def __init__(
        self, pool: WorkerPool, *, max_deliveries: int, retry_base_seconds: float
    ) -> None:
        self.pool = pool
        self.max_deliveries = max_deliveries
        self.retry_base_seconds = retry_base_seconds
        self.counters = Counters()
        self.in_flight = 0
        self.pending_retries = 0
        self._tasks: set[asyncio.Task[Any]] = set()
        self._backing_off: set[asyncio.Task[Any]] = set()
        self._stopping = False

    async def invoke_once(
        self, function: str, payload: dict[str, Any], correlation_id: str, kind: str
    ) -> InvocationResult:
        """One attempt, no retry: webhook calls (the sender retries), timers, admin.

        ``kind`` labels the log line (``webhook``, ``timer``, ``admin``).
        """
        self.in_flight += 1
        try:
            return await self._attempt(function, payload, correlation_id, kind, 1)
        finally:
            self.in_flight -= 1

    def start_delivery(
        self, function: str, event: dict[str, Any], sink: DeadLetterSink
    ) -> None:
        """Deliver ``event`` to ``function`` at least once, in the background.

        The delivery counts as in flight from this call on, so a status read
        right after the watcher's poll already sees it.
        """
        self.in_flight += 1
        task = asyncio.create_task(self._deliver(function, event, sink))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def start_once(
        self, function: str, payload: dict[str, Any], correlation_id: str, kind: str
    ) -> None:
        """Like :meth:`invoke_once`, in the background (the admin API's 202).

        Counted in flight from this call on, before the caller answers.
        """
        self.in_flight += 1
        task = asyncio.create_task(
            self._attempt_and_release(function, payload, correlation_id, kind)
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _attempt_and_release(
        self, function: str, payload: dict[str, Any], correlation_id: str, kind: str
    ) -> None:
        try:
            await self._attempt(function, payload, correlation_id, kind, 1)
        finally:
            self.in_flight -= 1

    async def _attempt(
        self,
        function: str,
        payload: dict[str, Any],
        correlation_id: str,
        kind: str,
        attempt: int,
    ) -> InvocationResult:
        self.counters.attempted += 1
        started = time.monotonic()
        result = await self.pool.invoke(function, payload, correlation_id)
        if result.ok:
            self.counters.succeeded += 1
        else:
            self.counters.failed += 1
        # One line per delivery; the correlation id is the event id. Subjects
        # and URLs are not logged: they hold blob names.
        logger.info(
            "%s function=%s correlation_id=%s attempt=%d outcome=%s%s duration_ms=%d",
            kind,
            function,
            correlation_id,
            attempt,
            "succeeded" if result.ok else "failed",
            "" if result.ok else f" error_type={result.error_type}",
            (time.monotonic() - started) * 1000,
        )
        return result

    async def _deliver(
        self, function: str, event: dict[str, Any], sink: DeadLetterSink
    ) -> None:
        publish_time = datetime.now(UTC)
        attempt = 0
        try:
            while True:
                attempt += 1
                result = await self._attempt(
                    function, event, event["id"], "delivery", attempt
                )
                if result.ok:
                    return
                if attempt >= self.max_deliveries:
                    break
                try:
                    if self._stopping:
                        raise asyncio.CancelledError
                    await self._back_off(attempt)
                except asyncio.CancelledError:
                    if not self._stopping:
                        raise
                    logger.warning(
                        "retry of correlation_id=%s abandoned at shutdown; the "
                        "blob is delivered again when the dev host next starts",
                        event["id"],
                    )
                    return

            self.counters.dead_lettered += 1
            document = _dead_letter_document(event, attempt, result, publish_time)
            try:
                await sink.write(function, event, document)
            except Exception:
                # Event Grid drops an event whose dead-letter destination fails;
                # here the failure is counted and logged for someone to see.
                self.counters.dead_lettered -= 1
                self.counters.dead_letter_failures += 1
                logger.exception(
                    "dead-lettering failed; event dropped correlation_id=%s",
                    event["id"],
                )
                return
            logger.warning(
                "dead-lettered function=%s correlation_id=%s attempts=%d "
                "last_error_type=%s",
                function,
                event["id"],
                attempt,
                result.error_type,
            )
        finally:
            self.in_flight -= 1

    async def _back_off(self, attempt: int) -> None:
        self.counters.retried += 1
        # Moved from in flight to pending retry in one step, so an observer never
        # sees both at zero while a retry is due.
        self.in_flight -= 1
        self.pending_retries += 1
        task = asyncio.current_task()
        assert task is not None
        self._backing_off.add(task)
        try:
            await asyncio.sleep(retry_delay(attempt, self.retry_base_seconds))
        finally:
            self._backing_off.discard(task)
            self.pending_retries -= 1
            self.in_flight += 1

    async def drain(self, timeout: float) -> bool:
        """Stop retrying and wait up to ``timeout`` seconds for running work.

        Returns
        -------
        bool
            Whether everything finished in time; the rest is cancelled.
        """
        self._stopping = True
        for task in list(self._backing_off):
            task.cancel()
        pending = set(self._tasks)
        if pending:
            _, pending = await asyncio.wait(pending, timeout=timeout)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
        return not pending


def _dead_letter_document(
    event: dict[str, Any],
    attempts: int,
    result: InvocationResult,
    publish_time: datetime,
) -> list[dict[str, Any]]:
    return dead_letter_document(
        event,
        attempts=attempts,
        error_type=result.error_type,
        error_message=result.error_message,
        publish_time=publish_time,
        last_attempt_time=datetime.now(UTC),
    )
