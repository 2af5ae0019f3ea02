"""Group commit: one request for the closing writes of concurrent uploads.

Every upload ends with two small writes, its lake row and its outcome event.
Made one by one they cost as much as the instance itself: a storage or Event
Grid round trip each, plus one staged blob per row for the emulator (and the
committer) to scan. The Functions host runs several invocations of one worker
process at a time (``PYTHON_THREADPOOL_THREAD_COUNT`` threads), so those that
reach the end together can share the round trips, as databases share a log
flush between the transactions that commit together.

An upload that arrives while no flush is running becomes the leader. It waits
for the uploads that are still in progress in the same process (they
:meth:`~GroupCommit.join` when they start), at most ``max_wait_seconds``, then
flushes for every upload queued by then. Uploads that arrive during that flush
queue up, and the first of them leads the next one. Under load the groups grow
to about the thread count; a lone upload never waits, because nobody else is
in progress.

Every member of a group sees the flush's outcome: if it fails, each of them
raises, so each event is redelivered and nothing is half done. Redelivery may
then write a row or publish an event twice; rows are merged on their natural
keys and outcome ids are deterministic, so a duplicate changes nothing.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Generic, TypeVar

from lib.errors import TransientError

__all__ = ["GroupCommit", "Member"]

T = TypeVar("T")

DEFAULT_MAX_ITEMS = 64


class _Ticket(Generic[T]):
    __slots__ = ("done", "error", "item")

    def __init__(self, item: T) -> None:
        self.item = item
        self.done = False
        self.error: BaseException | None = None


class GroupCommit(Generic[T]):
    """Runs ``flush`` over the items of every caller that is waiting at once.

    Parameters
    ----------
    flush : callable
        Writes a group of items; raises if any of it failed.
    max_items : int
        The most items one flush takes (request size limits).

    Example
    -------
    >>> group = GroupCommit(lambda items: print(len(items)))
    >>> group.submit("a row")
    1
    """

    def __init__(
        self,
        flush: Callable[[Sequence[T]], None],
        *,
        max_items: int = DEFAULT_MAX_ITEMS,
        max_wait_seconds: float = 0.0,
    ) -> None:
        if max_items < 1:
            raise ValueError("max_items must be at least 1")
        if max_wait_seconds < 0:
            raise ValueError("max_wait_seconds must not be negative")
        self._flush = flush
        self._max_items = max_items
        self._max_wait = max_wait_seconds
        self._condition = threading.Condition()
        self._queue: list[_Ticket[T]] = []
        self._flushing = False
        # Members that joined and have not submitted (or left) yet.
        self._expected = 0
        # Books for tests and the bench: flushes run and items they carried.
        self.flushes = 0
        self.items = 0

    @property
    def queued(self) -> int:
        """Items waiting for the next flush."""
        with self._condition:
            return len(self._queue)

    def join(self) -> Member[T]:
        """Announce an item to come; use as a context manager around the work.

        A leader waits up to ``max_wait_seconds`` for the items of members that
        joined before it, and never while no member is working.
        """
        with self._condition:
            self._expected += 1
        return Member(self)

    def _leave(self) -> None:
        with self._condition:
            self._expected -= 1
            self._condition.notify_all()

    def submit(self, item: T, *, _member: bool = False) -> None:
        """Return once a flush that carried ``item`` has succeeded.

        Raises
        ------
        Exception
            The flush that carried ``item`` failed: the leader raises the flush's
            own exception, the others a :class:`TransientError` caused by it.
        """
        ticket = _Ticket(item)
        with self._condition:
            self._queue.append(ticket)
            if _member:
                self._expected -= 1
                self._condition.notify_all()
            while not ticket.done:
                if self._flushing:
                    self._condition.wait()
                    continue
                self._lead()
        if ticket.error is not None:
            raise ticket.error

    def _lead(self) -> None:
        """Flush the oldest queued items; called and returns holding the lock."""
        self._flushing = True
        deadline = time.monotonic() + self._max_wait
        while self._expected > 0 and len(self._queue) < self._max_items:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            self._condition.wait(remaining)
        group = self._queue[: self._max_items]
        del self._queue[: self._max_items]
        error: BaseException | None = None
        self._condition.release()
        try:
            self._flush([ticket.item for ticket in group])
        except BaseException as exc:  # every member must hear of it
            error = exc
        finally:
            self._condition.acquire()
        self.flushes += 1
        self.items += len(group)
        for index, ticket in enumerate(group):
            ticket.done = True
            if error is not None:
                # One exception object is not raised in several threads at once
                # (each raise rewrites its traceback); the first member gets the
                # original, the others one of their own that points to it.
                ticket.error = error if index == 0 else _shared_failure(error)
        self._flushing = False
        self._condition.notify_all()


class Member(Generic[T]):
    """One caller's place in a group commit (see :meth:`GroupCommit.join`)."""

    def __init__(self, group: GroupCommit[T]) -> None:
        self._group = group
        self._open = True

    def submit(self, item: T) -> None:
        """Submit this member's item; see :meth:`GroupCommit.submit`."""
        if not self._open:
            raise RuntimeError("this member has already submitted or left")
        self._open = False
        self._group.submit(item, _member=True)

    def __enter__(self) -> Member[T]:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._open:
            # Left without an item (skipped, failed): nobody waits for it.
            self._open = False
            self._group._leave()


def _shared_failure(error: BaseException) -> BaseException:
    if not isinstance(error, Exception):
        return error  # KeyboardInterrupt and the like are not wrapped
    failure = TransientError(
        f"the grouped write this upload joined failed ({type(error).__name__})"
    )
    failure.__cause__ = error
    return failure
