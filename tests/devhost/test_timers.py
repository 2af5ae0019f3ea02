"""NCRONTAB schedules and timer functions (scheduled and via the admin API)."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest
from azure.storage.blob import BlobServiceClient

from devhost.timers import Schedule, ScheduleError
from tests.devhost.conftest import SAMPLE_APP
from tests.support.devhost import DevHost, running_devhost

START = datetime(2024, 1, 31, 23, 59, 58, tzinfo=UTC)


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("*/5 * * * * *", datetime(2024, 2, 1, 0, 0, 0, tzinfo=UTC)),
        ("30 * * * * *", datetime(2024, 2, 1, 0, 0, 30, tzinfo=UTC)),
        ("0 30 9 * * MON-FRI", datetime(2024, 2, 1, 9, 30, tzinfo=UTC)),
        ("0 0 12 29 2 *", datetime(2024, 2, 29, 12, 0, tzinfo=UTC)),
        ("0 0 0 1 1 *", datetime(2025, 1, 1, tzinfo=UTC)),
        ("0 15,45 1-2 * * 6", datetime(2024, 2, 3, 1, 15, tzinfo=UTC)),
        ("0 * * * *", datetime(2024, 2, 1, 0, 0, tzinfo=UTC)),
    ],
    ids=["step", "fixed-second", "weekdays", "leap-day", "yearly", "lists", "5-field"],
)
def test_finds_next_occurrence(expression: str, expected: datetime) -> None:
    assert Schedule(expression).next_after(START) == expected


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("* * * *", "needs six fields"),
        ("61 * * * * *", "second field: 61 is outside 0-59"),
        ("*/0 * * * * *", "step '0' is invalid"),
        ("0 0 0 31 2 *", "never fires"),
    ],
    ids=["too-few-fields", "out-of-range", "zero-step", "impossible-date"],
)
def test_rejects_malformed_schedules(expression: str, message: str) -> None:
    with pytest.raises(ScheduleError, match=message):
        Schedule(expression).next_after(START)


def _markers(blob_service: BlobServiceClient, prefix: str) -> list[str]:
    probe = blob_service.get_container_client("probe")
    if not probe.exists():
        return []
    return list(probe.list_blob_names(name_starts_with=prefix))


def test_admin_api_runs_timer_function_once(
    sample_host: DevHost, blob_service: BlobServiceClient
) -> None:
    response = sample_host.request(
        "POST",
        "/admin/functions/yearly_marker",
        headers={"x-functions-key": sample_host.master_key},
        body='{"input": ""}',
    )
    sample_host.wait_idle(timeout=30)

    assert response.status == 202
    assert len(_markers(blob_service, "timers/yearly/")) == 1


@pytest.mark.parametrize(
    ("name", "key", "status"),
    [
        ("yearly_marker", "wrong-key", 401),
        ("yearly_marker", None, 401),
        ("no_such_function", "master", 404),
        ("get_item", "master", 400),
    ],
    ids=["wrong-key", "no-key", "unknown-function", "http-function"],
)
def test_admin_api_refuses(
    sample_host: DevHost, name: str, key: str | None, status: int
) -> None:
    headers = {}
    if key is not None:
        headers["x-functions-key"] = sample_host.master_key if key == "master" else key

    response = sample_host.request(
        "POST", f"/admin/functions/{name}", headers=headers, body='{"input": ""}'
    )

    assert response.status == status


def test_runs_timer_functions_on_schedule(
    devhost_env: dict[str, str], blob_service: BlobServiceClient
) -> None:
    with running_devhost(devhost_env, app=SAMPLE_APP, watch=False, timers=True) as host:
        deadline = time.monotonic() + 15
        while len(_markers(blob_service, "timers/every-second/")) < 2:
            assert time.monotonic() < deadline, "every_second_marker did not run"
            time.sleep(0.2)

        assert host.stop() == 0
    assert _markers(blob_service, "timers/yearly/") == []
