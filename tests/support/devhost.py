"""Run the dev host as a subprocess for integration tests.

``running_devhost`` starts ``python -m devhost`` on a free loopback port from the
repository root, waits until ``/runtime/status`` answers, and yields a
:class:`DevHost` to talk to it. The dev host's log goes to a temporary file that
is printed when the ``with`` block raises (a failed assertion), so the failure
report shows what the host did.

Example
-------
>>> with running_devhost({"MEDLAKE_STORAGE_CONNECTION": conn}) as host:
...     upload_blob_to_incoming()
...     host.wait_idle(timeout=30)
...     assert host.status()["counters"]["succeeded"] == 1
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devhost.config import (
    DEFAULT_EVENTGRID_KEY,
    DEFAULT_FUNCTION_KEY,
    DEFAULT_MASTER_KEY,
)
from tests.support.azurite import free_port

__all__ = ["DevHost", "HttpResult", "running_devhost"]

REPO_ROOT = Path(__file__).resolve().parents[2]
STARTUP_TIMEOUT_SECONDS = 60.0
STOP_TIMEOUT_SECONDS = 20.0
EXIT_PORT_IN_USE = 3  # devhost.cli.EXIT_PORT_IN_USE
PORT_ATTEMPTS = 3
# Settings from the developer's shell or a local.settings.json must not leak into
# a test's dev host; the test's `env` is the whole configuration.
_INHERITED_PREFIXES = ("MEDLAKE_", "AzureWebJobs", "FUNCTIONS_")


@dataclass(frozen=True)
class HttpResult:
    """A response from the dev host.

    Parameters
    ----------
    status : int
        HTTP status code.
    headers : dict[str, str]
        Response headers, names lower-cased.
    body : bytes
        Response body.
    """

    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        """The body parsed as JSON."""
        return json.loads(self.body)


@dataclass
class DevHost:
    """A running dev host.

    Parameters
    ----------
    process : subprocess.Popen[bytes]
        The ``python -m devhost`` process.
    port : int
        Its HTTP port on 127.0.0.1.
    log_path : Path
        File receiving its stdout and stderr.
    """

    process: subprocess.Popen[bytes]
    port: int
    log_path: Path
    master_key: str = DEFAULT_MASTER_KEY
    function_key: str = DEFAULT_FUNCTION_KEY
    eventgrid_key: str = DEFAULT_EVENTGRID_KEY
    _log_text: str | None = field(default=None, repr=False)

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT``, without a trailing slash."""
        return f"http://127.0.0.1:{self.port}"

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        body: bytes | str | None = None,
        timeout: float = 30.0,
    ) -> HttpResult:
        """Send one request; HTTP error statuses are returned, not raised.

        Parameters
        ----------
        method : str
            HTTP method.
        path : str
            Path below the host, e.g. ``/api/health``; may be percent-encoded.
        params : Mapping[str, str] | None
            Query parameters.
        headers : Mapping[str, str] | None
            Request headers.
        body : bytes | str | None
            Request body; ``str`` is sent as UTF-8.
        timeout : float
            Seconds to wait for the response.
        """
        url = self.base_url + path
        if params:
            url += "?" + urllib.parse.urlencode(params)
        data = body.encode("utf-8") if isinstance(body, str) else body
        request = urllib.request.Request(
            url, data=data, method=method, headers=dict(headers or {})
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return HttpResult(
                    response.status,
                    {k.lower(): v for k, v in response.headers.items()},
                    response.read(),
                )
        except urllib.error.HTTPError as error:
            # HTTPError holds the open response; close it (warnings are errors).
            with error:
                return HttpResult(
                    error.code,
                    {k.lower(): v for k, v in error.headers.items()},
                    error.read(),
                )

    def status(self) -> dict[str, Any]:
        """The ``/runtime/status`` document."""
        result = self.request("GET", "/runtime/status", timeout=10)
        if result.status != 200:
            raise RuntimeError(f"/runtime/status answered {result.status}")
        document: dict[str, Any] = result.json()
        return document

    def wait_idle(self, timeout: float = 30.0) -> None:
        """Wait until nothing runs or waits for a retry, and the watcher caught up.

        Idle means ``inFlight`` and ``pendingRetries`` are 0 and, if the watcher
        runs, a poll that began after this call has finished, so blobs uploaded
        before the call have been seen and their deliveries are done.

        Parameters
        ----------
        timeout : float
            Seconds before ``TimeoutError``.
        """
        deadline = time.monotonic() + timeout
        first = self.status()
        watcher = first["watcher"]
        started_before = watcher.get("pollsStarted", 0)
        status = first
        while True:
            watcher = status["watcher"]
            caught_up = (
                not watcher["enabled"] or watcher["lastSuccessfulPoll"] > started_before
            )
            if caught_up and status["inFlight"] == 0 and status["pendingRetries"] == 0:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"dev host not idle after {timeout}s: inFlight="
                    f"{status['inFlight']} pendingRetries={status['pendingRetries']} "
                    f"watcher={watcher}"
                )
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"dev host exited with code {self.process.returncode}"
                )
            time.sleep(0.05)
            status = self.status()

    def published_events(self, topic: str) -> list[dict[str, Any]]:
        """Events posted to the local Event Grid topic ``topic``."""
        result = self.request(
            "GET",
            f"/runtime/topics/{urllib.parse.quote(topic)}/events",
            headers={"x-functions-key": self.master_key},
        )
        if result.status != 200:
            raise RuntimeError(f"reading topic {topic} answered {result.status}")
        events: list[dict[str, Any]] = result.json()
        return events

    def log_text(self) -> str:
        """Everything the dev host has logged so far."""
        if self._log_text is not None:
            return self._log_text
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def stop(self) -> int:
        """SIGTERM, wait for the graceful shutdown, kill if it hangs.

        Returns
        -------
        int
            The exit code (0 after a clean shutdown).
        """
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=STOP_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self._log_text is None and self.log_path.exists():
            self._log_text = self.log_path.read_text(encoding="utf-8", errors="replace")
        return self.process.returncode


def _environment(env: Mapping[str, str]) -> dict[str, str]:
    inherited = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(_INHERITED_PREFIXES)
    }
    return {**inherited, "PYTHONUNBUFFERED": "1", **env}


def _start(
    command: list[str], environment: dict[str, str], port: int, log_path: Path
) -> DevHost:
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [*command, "--port", str(port)],
            cwd=REPO_ROOT,
            env=environment,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    return DevHost(
        process=process,
        port=port,
        log_path=log_path,
        master_key=environment.get("MEDLAKE_DEVHOST_MASTER_KEY") or DEFAULT_MASTER_KEY,
        function_key=environment.get("MEDLAKE_DEVHOST_FUNCTION_KEY")
        or DEFAULT_FUNCTION_KEY,
        eventgrid_key=environment.get("MEDLAKE_DEVHOST_EVENTGRID_KEY")
        or DEFAULT_EVENTGRID_KEY,
    )


def _wait_ready(host: DevHost, timeout: float) -> bool:
    """True when the status answers with state running; False if it exited."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if host.process.poll() is not None:
            return False
        try:
            if host.status()["state"] == "running":
                return True
        except (OSError, RuntimeError):
            pass
        time.sleep(0.1)
    host.stop()
    raise TimeoutError(
        f"dev host did not start within {timeout}s; log:\n{host.log_text()}"
    )


@contextmanager
def running_devhost(
    env: dict[str, str],
    *,
    app: str = "function_app:app",
    workers: int = 2,
    threads: int | None = None,
    watch: bool = True,
    timers: bool = False,
    startup_timeout: float = STARTUP_TIMEOUT_SECONDS,
    port: int | None = None,
) -> Iterator[DevHost]:
    """Run ``python -m devhost`` for the duration of a ``with`` block.

    Parameters
    ----------
    env : dict[str, str]
        Settings for the dev host and the app (``MEDLAKE_STORAGE_CONNECTION``,
        ``MEDLAKE_DEVHOST_*``...). ``MEDLAKE_*``, ``AzureWebJobs*`` and
        ``FUNCTIONS_*`` variables of the test process are not inherited, and no
        ``local.settings.json`` is read.
    app : str
        ``module:attribute`` of the FunctionApp.
    workers : int
        Worker processes.
    threads : int | None
        Concurrent invocations per worker process; the dev host's default
        (``PYTHON_THREADPOOL_THREAD_COUNT`` or the Python worker's) when None.
    watch, timers : bool
        Run the blob watcher / timer triggers.
    startup_timeout : float
        Seconds to wait for ``/runtime/status``; workers are started (and the
        app imported in each) before the host reports ``running``.
    port : int | None
        Listen on this port (for settings that must name the host's own URL,
        such as the outcome topic); a free port by default.

    Yields
    ------
    DevHost
        The running host; stopped (SIGTERM) when the block exits.
    """
    workdir = Path(tempfile.mkdtemp(prefix="medlake-devhost-"))
    command = [
        sys.executable,
        "-m",
        "devhost",
        "--app",
        app,
        "--workers",
        str(workers),
        # A path that does not exist: the test's env is the only configuration.
        "--settings",
        str(workdir / "local.settings.json"),
    ]
    if threads is not None:
        command.extend(["--threads", str(threads)])
    if not watch:
        command.append("--no-watch")
    if not timers:
        command.append("--no-timers")
    environment = _environment(env)

    host: DevHost | None = None
    try:
        for attempt in range(1, PORT_ATTEMPTS + 1):
            chosen = port if port is not None else free_port()
            host = _start(command, environment, chosen, workdir / "devhost.log")
            if _wait_ready(host, startup_timeout):
                break
            # Another process may have taken the free port between our probe
            # and the host's bind; anything else is a real start-up failure.
            if (
                host.process.returncode != EXIT_PORT_IN_USE
                or attempt == PORT_ATTEMPTS
                or port is not None
            ):
                raise RuntimeError(
                    f"dev host exited with code {host.process.returncode} during "
                    f"start-up; log:\n{host.log_text()}"
                )
        assert host is not None
        try:
            yield host
        except BaseException:
            host.stop()
            print(f"----- dev host log ({host.base_url}) -----")
            print(host.log_text())
            print("----- end of dev host log -----")
            raise
        finally:
            host.stop()
    finally:
        if host is not None:
            host.stop()
        shutil.rmtree(workdir, ignore_errors=True)
