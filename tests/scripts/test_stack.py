"""``scripts/stack.py``: how it tells whether a service it started is still running."""

from __future__ import annotations

import importlib.util
import os
import signal
import sys
import time
from pathlib import Path
from types import ModuleType

import pytest

STACK_PATH = Path(__file__).resolve().parents[2] / "scripts" / "stack.py"


@pytest.fixture
def stack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    spec = importlib.util.spec_from_file_location("medlake_stack", STACK_PATH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setattr(module, "RUN", tmp_path)
    return module


def _stops(stack: ModuleType, name: str, timeout: float = 10) -> bool:
    """Whether ``_pid(name)`` says the service is gone within ``timeout``."""
    deadline = time.monotonic() + timeout
    while stack._pid(name) is not None:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def test_a_stopped_service_is_not_running(stack: ModuleType) -> None:
    stack._start("sleeper", [sys.executable, "-c", "import time; time.sleep(60)"])
    pid = stack._pid("sleeper")
    assert pid is not None
    os.killpg(pid, signal.SIGTERM)
    assert _stops(stack, "sleeper")


def test_a_service_that_exited_in_this_process_is_not_running(
    stack: ModuleType,
) -> None:
    # make demo starts the services itself, so one that exits is its zombie child
    # until reaped; it must not count as running (down would wait, then SIGKILL).
    stack._start("quitter", [sys.executable, "-c", "pass"])
    assert _stops(stack, "quitter")


def test_no_pid_file_means_not_running(stack: ModuleType) -> None:
    assert stack._pid("devhost") is None
