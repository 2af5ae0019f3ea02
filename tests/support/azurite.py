"""Start a private Azurite blob service for a test session.

Each test session gets its own Azurite on a free loopback port with a throw-away
workspace, so tests never touch the stack that ``make up`` runs.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
AZURITE_BLOB = REPO_ROOT / "node_modules" / ".bin" / "azurite-blob"
ACCOUNT_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/"
    "K1SZFPTOtr/KBHBeksoGMGw=="
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def connection_string(port: int) -> str:
    return (
        "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;"
        f"AccountKey={ACCOUNT_KEY};"
        f"BlobEndpoint=http://127.0.0.1:{port}/devstoreaccount1;"
    )


def _wait_for_port(port: int, process: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"Azurite exited early with code {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"Azurite did not answer on port {port} within {timeout}s")


@contextmanager
def running_azurite(
    timeout: float = 30.0, *, in_memory: bool = False, port: int | None = None
) -> Iterator[str]:
    """Run Azurite's blob service; yield its connection string.

    ``in_memory`` keeps blobs in memory instead of the temporary workspace;
    ``port`` picks the port (a free one by default).
    """
    if not AZURITE_BLOB.exists():
        raise RuntimeError("Azurite is not installed: run `npm ci` (make setup)")
    workspace = Path(tempfile.mkdtemp(prefix="medlake-azurite-"))
    port = port if port is not None else free_port()
    process = subprocess.Popen(
        [
            str(AZURITE_BLOB),
            "--blobHost",
            "127.0.0.1",
            "--blobPort",
            str(port),
            # Azurite refuses --location together with --inMemoryPersistence.
            *([] if in_memory else ["--location", str(workspace)]),
            "--skipApiVersionCheck",
            "--disableTelemetry",
            "--silent",
            *(["--inMemoryPersistence"] if in_memory else []),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_for_port(port, process, timeout)
        yield connection_string(port)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
        shutil.rmtree(workspace, ignore_errors=True)
