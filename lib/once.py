"""``once``: a factory whose result is built once per process, thread-safely.

Functions keep clients, connection pools and pipelines in module state between
invocations, as the Python worker keeps modules loaded. The worker runs several
invocations at once in threads, and ``functools.cache`` alone would let two
first invocations each build one (two pipelines means two connection pools and
two groups of closing writes).
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import TypeVar

__all__ = ["once"]

T = TypeVar("T")


def once(factory: Callable[[], T]) -> Callable[[], T]:
    """``factory()`` on the first call; the same object on every later one.

    A factory that raises is called again next time (a missing setting fixed
    in the environment, a transient Key Vault error).
    """
    lock = threading.Lock()
    built: list[T] = []

    @functools.wraps(factory)
    def get() -> T:
        if built:
            return built[0]
        with lock:
            if not built:
                built.append(factory())
            return built[0]

    return get
