"""Dev host configuration: command line, environment and ``local.settings.json``."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "DEFAULT_EVENTGRID_KEY",
    "DEFAULT_FUNCTION_KEY",
    "DEFAULT_MASTER_KEY",
    "DEFAULT_TOPIC_KEY",
    "DevHostConfig",
    "DevHostConfigError",
    "load_local_settings",
]

# Development-only keys, documented in docs/devhost.md; real deployments use the keys
# the Functions host generates. Each can be overridden by its environment setting.
DEFAULT_FUNCTION_KEY = "medlake-dev-function-key"
DEFAULT_MASTER_KEY = "medlake-dev-master-key"
DEFAULT_EVENTGRID_KEY = "medlake-dev-eventgrid-key"
DEFAULT_TOPIC_KEY = "medlake-dev-topic-key"

DEFAULT_POLL_SECONDS = 0.5
DEFAULT_MAX_DELIVERIES = 5
DEFAULT_RETRY_BASE_SECONDS = 1.0


class DevHostConfigError(ValueError):
    """A dev host setting or argument is malformed; the message names it."""


def load_local_settings(path: Path, environ: MutableMapping[str, str]) -> int:
    """Copy the ``Values`` of a ``local.settings.json`` into ``environ``.

    Core Tools does the same at start-up, and a variable already set in the
    environment wins over the file, so CI and tests can override single values.

    Parameters
    ----------
    path : Path
        The settings file; a missing file is not an error (Core Tools also runs
        without one).
    environ : MutableMapping[str, str]
        The environment to fill, normally ``os.environ``.

    Returns
    -------
    int
        How many values were copied.
    """
    if not path.exists():
        return 0
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DevHostConfigError(
            f"{path} is not readable JSON; fix or remove it"
        ) from exc
    values = document.get("Values", {}) if isinstance(document, dict) else None
    if not isinstance(values, dict):
        raise DevHostConfigError(f"{path}: 'Values' must be a JSON object")

    copied = 0
    for name, value in values.items():
        if name in environ or value is None:
            continue
        environ[name] = value if isinstance(value, str) else json.dumps(value)
        copied += 1
    return copied


def _float(env: Mapping[str, str], name: str, default: float, minimum: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError as exc:
        raise DevHostConfigError(f"{name} must be a number, got {raw!r}") from exc
    if value < minimum:
        raise DevHostConfigError(f"{name} must be at least {minimum}")
    return value


def python_worker_threads() -> int:
    """The Python worker's default thread count in Azure: ``min(32, cores + 4)``."""
    return min(32, (os.cpu_count() or 1) + 4)


def _int(env: Mapping[str, str], name: str, default: int, minimum: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise DevHostConfigError(f"{name} must be an integer, got {raw!r}") from exc
    if value < minimum:
        raise DevHostConfigError(f"{name} must be at least {minimum}")
    return value


@dataclass(frozen=True)
class DevHostConfig:
    """Everything the dev host needs, validated on construction.

    Parameters
    ----------
    app : str
        ``module:attribute`` of the ``FunctionApp``.
    host, port : str, int
        Where the HTTP server listens.
    workers : int
        Size of the process pool that runs event and timer functions.
    threads : int
        Concurrent invocations per worker process.
    poll_seconds : float
        Interval of the blob watcher.
    max_deliveries : int
        Delivery attempts per event before it is dead-lettered.
    retry_base_seconds : float
        First retry delay; doubled per attempt, capped, with jitter.
    watch, timers : bool
        Whether the blob watcher and the timer scheduler run.
    function_key, master_key, eventgrid_key, topic_key : str
        Keys for ``function``/``admin`` HTTP functions, the Event Grid webhook and
        the local Event Grid topic.
    event_functions : tuple[str, ...]
        Event Grid functions that receive watcher events; empty means all.
    """

    app: str
    host: str
    port: int
    workers: int
    threads: int
    poll_seconds: float
    max_deliveries: int
    retry_base_seconds: float
    watch: bool
    timers: bool
    function_key: str
    master_key: str
    eventgrid_key: str
    topic_key: str
    event_functions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if ":" not in self.app:
            raise DevHostConfigError(
                f"--app must be module:attribute, like function_app:app, "
                f"got {self.app!r}"
            )
        if not 0 <= self.port <= 65535:
            raise DevHostConfigError("--port must be between 0 and 65535")
        if self.workers < 1:
            raise DevHostConfigError("--workers must be at least 1")
        if self.threads < 1:
            raise DevHostConfigError("--threads must be at least 1")
        for name in ("function_key", "master_key", "eventgrid_key", "topic_key"):
            if not getattr(self, name):
                raise DevHostConfigError(f"{name} must not be empty")

    @classmethod
    def from_env(
        cls,
        env: Mapping[str, str],
        *,
        app: str = "function_app:app",
        host: str = "127.0.0.1",
        port: int = 7071,
        workers: int | None = None,
        threads: int | None = None,
        watch: bool = True,
        timers: bool = True,
    ) -> DevHostConfig:
        """Combine command-line values with the ``MEDLAKE_DEVHOST_*`` settings.

        Threads per worker come from ``PYTHON_THREADPOOL_THREAD_COUNT``, the
        setting the Python worker reads in Azure, with its default.
        """
        default_workers = _int(
            env, "MEDLAKE_DEVHOST_WORKERS", os.cpu_count() or 1, minimum=1
        )
        default_threads = _int(
            env, "PYTHON_THREADPOOL_THREAD_COUNT", python_worker_threads(), minimum=1
        )
        selected = tuple(
            name.strip()
            for name in env.get("MEDLAKE_DEVHOST_EVENT_FUNCTIONS", "").split(",")
            if name.strip()
        )
        return cls(
            app=app,
            host=host,
            port=port,
            workers=default_workers if workers is None else workers,
            threads=default_threads if threads is None else threads,
            poll_seconds=_float(
                env, "MEDLAKE_DEVHOST_POLL_SECONDS", DEFAULT_POLL_SECONDS, 0.01
            ),
            max_deliveries=_int(
                env, "MEDLAKE_DEVHOST_MAX_DELIVERIES", DEFAULT_MAX_DELIVERIES, 1
            ),
            retry_base_seconds=_float(
                env,
                "MEDLAKE_DEVHOST_RETRY_BASE_SECONDS",
                DEFAULT_RETRY_BASE_SECONDS,
                0.0,
            ),
            watch=watch,
            timers=timers,
            function_key=env.get("MEDLAKE_DEVHOST_FUNCTION_KEY")
            or DEFAULT_FUNCTION_KEY,
            master_key=env.get("MEDLAKE_DEVHOST_MASTER_KEY") or DEFAULT_MASTER_KEY,
            eventgrid_key=env.get("MEDLAKE_DEVHOST_EVENTGRID_KEY")
            or DEFAULT_EVENTGRID_KEY,
            topic_key=env.get("MEDLAKE_OUTCOME_TOPIC_KEY") or DEFAULT_TOPIC_KEY,
            event_functions=selected,
        )
