"""Start and stop the local stack: Azurite and the dev host, in the background.

``up`` returns when both answer; ``down`` stops both. Process ids and logs live in
``.run/``, Azurite's data in ``.data/azurite`` (both git-ignored).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RUN = ROOT / ".run"
DATA = ROOT / ".data" / "azurite"
AZURITE_PORT = 10000
DEVHOST_PORT = 7071
STATUS_URL = f"http://127.0.0.1:{DEVHOST_PORT}/runtime/status"
START_TIMEOUT = 60.0

# The services started by this process, so that it can reap them once they exit.
_STARTED: dict[str, subprocess.Popen[bytes]] = {}


def _port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.3):
            return True
    except OSError:
        return False


def _devhost_answers() -> bool:
    try:
        with urllib.request.urlopen(STATUS_URL, timeout=1) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def _pid(name: str) -> int | None:
    path = RUN / f"{name}.pid"
    try:
        pid = int(path.read_text())
    except (OSError, ValueError):
        return None
    # A service this process started (``make demo``) stays a zombie after it
    # exits until it is reaped, and a zombie still answers kill(0).
    started = _STARTED.get(name)
    if started is not None and started.pid == pid and started.poll() is not None:
        return None
    try:
        os.kill(pid, 0)
    except OSError:
        return None
    return pid


def _start(name: str, command: list[str]) -> None:
    RUN.mkdir(exist_ok=True)
    with (RUN / f"{name}.log").open("ab") as log:
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    _STARTED[name] = process
    (RUN / f"{name}.pid").write_text(str(process.pid))


def _wait(name: str, ready: object, timeout: float = START_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ready():  # type: ignore[operator]
            return
        if _pid(name) is None:
            break
        time.sleep(0.2)
    log = RUN / f"{name}.log"
    tail = log.read_text(errors="replace").splitlines()[-20:] if log.exists() else []
    sys.exit(f"{name} did not start; last log lines:\n" + "\n".join(tail))


def up() -> None:
    if _port_open(AZURITE_PORT):
        print(f"azurite  already answering on 127.0.0.1:{AZURITE_PORT}")
    else:
        DATA.mkdir(parents=True, exist_ok=True)
        _start(
            "azurite",
            [
                str(ROOT / "node_modules" / ".bin" / "azurite-blob"),
                "--blobHost",
                "127.0.0.1",
                "--blobPort",
                str(AZURITE_PORT),
                "--location",
                str(DATA),
                "--skipApiVersionCheck",
                "--disableTelemetry",
            ],
        )
        _wait("azurite", lambda: _port_open(AZURITE_PORT))
        print(f"azurite  http://127.0.0.1:{AZURITE_PORT}  (data in .data/azurite)")

    if _devhost_answers():
        print(f"devhost  already answering on 127.0.0.1:{DEVHOST_PORT}")
    else:
        _start(
            "devhost",
            [sys.executable, "-m", "devhost", "--port", str(DEVHOST_PORT)],
        )
        _wait("devhost", _devhost_answers)
        with urllib.request.urlopen(STATUS_URL, timeout=2) as response:
            status = json.load(response)
        names = ", ".join(f["name"] for f in status.get("functions", []))
        print(f"devhost  http://127.0.0.1:{DEVHOST_PORT}  functions: {names}")
    print("logs in .run/; stop with `make down`")


def down() -> None:
    for name in ("devhost", "azurite"):
        pid = _pid(name)
        if pid is None:
            print(f"{name:<8} not running")
            continue
        os.killpg(pid, signal.SIGTERM)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and _pid(name) is not None:
            time.sleep(0.2)
        if _pid(name) is not None:
            os.killpg(pid, signal.SIGKILL)
        (RUN / f"{name}.pid").unlink(missing_ok=True)
        print(f"{name:<8} stopped")


def status() -> int:
    azurite = _port_open(AZURITE_PORT)
    devhost = _devhost_answers()
    print(f"azurite  {'up' if azurite else 'down'}")
    print(f"devhost  {'up' if devhost else 'down'}")
    return 0 if azurite and devhost else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("action", choices=["up", "down", "status"])
    action = parser.parse_args().action
    if action == "up":
        up()
    elif action == "down":
        down()
    else:
        return status()
    return 0


if __name__ == "__main__":
    sys.exit(main())
