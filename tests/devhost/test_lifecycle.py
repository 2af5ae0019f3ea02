"""Start-up failures and graceful shutdown of ``python -m devhost``."""

from __future__ import annotations

import subprocess
import sys
import time

from azure.storage.blob import BlobServiceClient

from lib.storage import INCOMING
from tests.devhost.conftest import SAMPLE_APP
from tests.support.devhost import REPO_ROOT, running_devhost


def test_sigterm_lets_running_delivery_finish(
    devhost_env: dict[str, str], blob_service: BlobServiceClient
) -> None:
    env = {
        **devhost_env,
        "MEDLAKE_DEVHOST_EVENT_FUNCTIONS": "record_event",
        "SAMPLE_RECORD_SLEEP": "1.5",
    }
    with running_devhost(env, app=SAMPLE_APP) as host:
        blob_service.get_blob_client(INCOMING, "slow.dcm").upload_blob(b"x")
        deadline = time.monotonic() + 15
        while host.status()["inFlight"] == 0:
            assert time.monotonic() < deadline, "the delivery never started"
            time.sleep(0.05)

        exit_code = host.stop()

    assert exit_code == 0
    probe = blob_service.get_container_client("probe")
    assert len(list(probe.list_blob_names(name_starts_with="events/"))) == 1
    assert "shutting down" in host.log_text()


def test_unknown_event_function_fails_start_up_with_exit_code_2(
    devhost_env: dict[str, str],
) -> None:
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "devhost",
            "--app",
            SAMPLE_APP,
            "--port",
            "0",
            "--settings",
            "/nonexistent/local.settings.json",
        ],
        cwd=REPO_ROOT,
        env={**devhost_env, "MEDLAKE_DEVHOST_EVENT_FUNCTIONS": "nope"},
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert completed.returncode == 2
    assert "MEDLAKE_DEVHOST_EVENT_FUNCTIONS names ['nope']" in completed.stderr


def test_app_that_does_not_import_fails_start_up_with_exit_code_2() -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "devhost", "--app", "no_such_module:app", "--port", "0"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert completed.returncode == 2
    assert "importing no_such_module failed (ModuleNotFoundError)" in completed.stderr
