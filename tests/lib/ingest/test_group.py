"""Group commit: who flushes, what each flush carries, and failures."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence

import pytest

from lib.errors import TransientError
from lib.ingest.group import GroupCommit


def wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition never came true"
        time.sleep(0.005)


def run_all(targets: list[Callable[[], None]]) -> list[BaseException | None]:
    errors: list[BaseException | None] = [None] * len(targets)

    def call(index: int) -> None:
        try:
            targets[index]()
        except BaseException as exc:
            errors[index] = exc

    threads = [threading.Thread(target=call, args=(i,)) for i in range(len(targets))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return errors


class HeldFlush:
    """A flush that records its groups and holds the first one until released.

    With ``fail`` set, every flush after the first raises it.
    """

    def __init__(self) -> None:
        self.groups: list[list[str]] = []
        self.release = threading.Event()
        self.entered = threading.Event()
        self.fail: Exception | None = None

    def __call__(self, items: Sequence[str]) -> None:
        first = not self.groups
        self.groups.append(list(items))
        if first:
            self.entered.set()
            assert self.release.wait(timeout=30)
        if self.fail is not None and not first:
            raise self.fail


def test_a_lone_item_is_flushed_at_once_by_its_caller() -> None:
    flushed: list[tuple[list[str], str]] = []
    group: GroupCommit[str] = GroupCommit(
        lambda items: flushed.append((list(items), threading.current_thread().name))
    )

    started = time.perf_counter()
    group.submit("row")

    assert time.perf_counter() - started < 0.5
    assert flushed == [(["row"], threading.current_thread().name)]
    assert (group.flushes, group.items, group.queued) == (1, 1, 0)


def test_items_arriving_during_a_flush_share_the_next_one() -> None:
    flush = HeldFlush()
    group: GroupCommit[str] = GroupCommit(flush)
    leader = threading.Thread(target=group.submit, args=("first",))
    leader.start()
    assert flush.entered.wait(timeout=10)

    followers = [
        threading.Thread(target=group.submit, args=(f"row{i}",)) for i in range(5)
    ]
    for thread in followers:
        thread.start()
    wait_until(lambda: group.queued == 5)
    flush.release.set()
    for thread in [leader, *followers]:
        thread.join(timeout=10)

    assert flush.groups[0] == ["first"]
    assert sorted(flush.groups[1]) == [f"row{i}" for i in range(5)]
    assert (group.flushes, group.items) == (2, 6)


def test_a_flush_takes_at_most_max_items_and_the_rest_follow() -> None:
    flush = HeldFlush()
    group: GroupCommit[str] = GroupCommit(flush, max_items=2)
    leader = threading.Thread(target=group.submit, args=("first",))
    leader.start()
    assert flush.entered.wait(timeout=10)
    followers = [
        threading.Thread(target=group.submit, args=(f"row{i}",)) for i in range(5)
    ]
    for thread in followers:
        thread.start()
    wait_until(lambda: group.queued == 5)
    flush.release.set()
    for thread in [leader, *followers]:
        thread.join(timeout=10)

    assert [len(g) for g in flush.groups] == [1, 2, 2, 1]
    assert sorted(item for g in flush.groups for item in g) == sorted(
        ["first", *(f"row{i}" for i in range(5))]
    )


def test_every_member_of_a_failed_flush_raises() -> None:
    flush = HeldFlush()
    group: GroupCommit[str] = GroupCommit(flush)
    leader = threading.Thread(target=group.submit, args=("first",))
    leader.start()
    assert flush.entered.wait(timeout=10)
    flush.fail = TransientError("storage refused the group")
    submits: list[Callable[[], None]] = [
        lambda i=i: group.submit(f"row{i}")  # type: ignore[misc]
        for i in range(4)
    ]
    outcome: list[list[BaseException | None]] = []
    runner = threading.Thread(target=lambda: outcome.append(run_all(submits)))
    runner.start()
    wait_until(lambda: group.queued == 4)
    flush.release.set()
    runner.join(timeout=10)
    leader.join(timeout=10)

    errors = outcome[0]
    assert all(isinstance(e, TransientError) for e in errors)
    originals = [e for e in errors if e is flush.fail]
    shared = [e for e in errors if e is not flush.fail]
    assert len(originals) == 1
    assert all(e.__cause__ is flush.fail for e in shared)
    assert all("grouped write" in str(e) for e in shared)


def test_a_failed_flush_does_not_stop_the_next_group() -> None:
    calls: list[list[int]] = []

    def flush(items: Sequence[int]) -> None:
        calls.append(list(items))
        if len(calls) == 1:
            raise TransientError("first flush fails")

    group: GroupCommit[int] = GroupCommit(flush)
    with pytest.raises(TransientError, match="first flush fails"):
        group.submit(1)
    group.submit(2)

    assert calls == [[1], [2]]


def test_max_items_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        GroupCommit(lambda items: None, max_items=0)


def test_a_lone_member_never_waits() -> None:
    flushed: list[list[str]] = []
    group: GroupCommit[str] = GroupCommit(
        lambda items: flushed.append(list(items)), max_wait_seconds=5.0
    )

    started = time.perf_counter()
    with group.join() as member:
        member.submit("row")

    assert time.perf_counter() - started < 0.5
    assert flushed == [["row"]]


def test_the_leader_waits_for_members_still_working() -> None:
    flushed: list[list[str]] = []
    group: GroupCommit[str] = GroupCommit(
        lambda items: flushed.append(sorted(items)), max_wait_seconds=10.0
    )
    slow = group.join()
    leader_done = threading.Event()

    def lead() -> None:
        with group.join() as member:
            member.submit("fast")
        leader_done.set()

    leader = threading.Thread(target=lead)
    leader.start()
    wait_until(lambda: group.queued == 1)
    assert not leader_done.wait(timeout=0.2)  # held for the slow member
    with slow:
        slow.submit("slow")
    leader.join(timeout=10)

    assert flushed == [["fast", "slow"]]


def test_the_wait_ends_at_max_wait_or_when_members_leave() -> None:
    flushed: list[list[str]] = []
    group: GroupCommit[str] = GroupCommit(
        lambda items: flushed.append(list(items)), max_wait_seconds=0.3
    )

    with group.join():  # a member that never submits...
        started = time.perf_counter()
        group.submit("alone")
        waited = time.perf_counter() - started
    assert 0.25 <= waited < 5

    absent = group.join()
    leaver = threading.Timer(0.05, lambda: absent.__exit__(None, None, None))
    leaver.start()
    started = time.perf_counter()
    group.submit("after a leave")  # ...and one that leaves releases the leader
    assert time.perf_counter() - started < 0.25
    assert flushed == [["alone"], ["after a leave"]]


def test_a_member_submits_once() -> None:
    group: GroupCommit[str] = GroupCommit(lambda items: None)
    with group.join() as member:
        member.submit("row")
        with pytest.raises(RuntimeError, match="already submitted"):
            member.submit("again")
