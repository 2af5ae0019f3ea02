"""``once``: built once per process, even when first called from many threads."""

from __future__ import annotations

import threading
import time

import pytest

from lib.once import once


def test_concurrent_first_calls_build_one_object() -> None:
    builds: list[int] = []

    @once
    def build() -> object:
        builds.append(1)
        time.sleep(0.05)  # long enough for the other threads to arrive
        return object()

    results: list[object] = []
    threads = [
        threading.Thread(target=lambda: results.append(build())) for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)

    assert len(builds) == 1
    assert len({id(result) for result in results}) == 1


def test_a_failed_build_is_tried_again() -> None:
    attempts: list[int] = []

    @once
    def build() -> str:
        attempts.append(1)
        if len(attempts) == 1:
            raise RuntimeError("setting missing")
        return "built"

    with pytest.raises(RuntimeError, match="setting missing"):
        build()
    assert build() == "built"
    assert build() == "built"
    assert len(attempts) == 2
