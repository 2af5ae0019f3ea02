"""The blob watcher: new blobs in ``incoming`` become Event Grid deliveries."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import quote

from azure.storage.blob import BlobServiceClient, ContentSettings

from devhost.watcher import LISTING_PAGE_SIZE
from lib.storage import DEADLETTER, INCOMING, deadletter_blob_name
from tests.devhost.conftest import SAMPLE_APP
from tests.support.azurite import connection_string, free_port, running_azurite
from tests.support.devhost import running_devhost

# Blob names may carry patient names; the tests check they stay out of the log.
PATIENT_BLOB = "uploads/DOE^JANE/study one/1.dcm"


def _upload(service: BlobServiceClient, name: str, data: bytes = b"DICM") -> None:
    service.get_blob_client(INCOMING, name).upload_blob(
        data,
        overwrite=True,
        content_settings=ContentSettings(content_type="application/dicom"),
    )


def _recorded_events(service: BlobServiceClient) -> list[dict[str, Any]]:
    probe = service.get_container_client("probe")
    if not probe.exists():
        return []
    return [
        json.loads(probe.download_blob(name).readall())
        for name in probe.list_blob_names(name_starts_with="events/")
    ]


def _probe_names(service: BlobServiceClient, prefix: str) -> list[str]:
    probe = service.get_container_client("probe")
    return list(probe.list_blob_names(name_starts_with=prefix))


def _env(base: dict[str, str], **extra: str) -> dict[str, str]:
    return {**base, **extra}


def test_new_blob_becomes_one_blob_created_event(
    devhost_env: dict[str, str], blob_service: BlobServiceClient
) -> None:
    env = _env(devhost_env, MEDLAKE_DEVHOST_EVENT_FUNCTIONS="record_event")
    with running_devhost(env, app=SAMPLE_APP) as host:
        _upload(blob_service, PATIENT_BLOB)
        host.wait_idle(timeout=30)
        host.wait_idle(timeout=30)  # a later poll must not deliver it again
        counters = host.status()["counters"]
        log = host.log_text()

    properties = blob_service.get_blob_client(
        INCOMING, PATIENT_BLOB
    ).get_blob_properties()
    container_url = blob_service.get_container_client(INCOMING).url
    [event] = _recorded_events(blob_service)
    assert counters["attempted"] == 1
    assert counters["succeeded"] == 1
    assert event["eventType"] == "Microsoft.Storage.BlobCreated"
    assert event["topic"] == (
        "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/"
        "medlake-local/providers/Microsoft.Storage/storageAccounts/devstoreaccount1"
    )
    assert event["subject"] == (
        f"/blobServices/default/containers/incoming/blobs/{PATIENT_BLOB}"
    )
    assert event["dataVersion"] == ""
    assert event["eventTime"] == properties.last_modified.isoformat()
    data = event["data"]
    assert data["api"] == "PutBlob"
    assert data["eTag"] == properties.etag.strip('"')
    assert data["eTag"].startswith("0x")
    assert data["contentType"] == "application/dicom"
    assert data["contentLength"] == 4
    assert data["blobType"] == "BlockBlob"
    assert data["url"] == f"{container_url}/{quote(PATIENT_BLOB)}"
    assert len(data["sequencer"]) == 32
    assert set(data["storageDiagnostics"]) == {"batchId"}
    assert data["clientRequestId"] and data["requestId"]
    assert f"correlation_id={event['id']}" in log
    assert "DOE^JANE" not in log
    assert "DOE%5EJANE" not in log


def test_reupload_with_new_content_is_a_new_event(
    devhost_env: dict[str, str], blob_service: BlobServiceClient
) -> None:
    env = _env(devhost_env, MEDLAKE_DEVHOST_EVENT_FUNCTIONS="record_event")
    with running_devhost(env, app=SAMPLE_APP) as host:
        _upload(blob_service, "a.dcm", b"first")
        host.wait_idle(timeout=30)
        _upload(blob_service, "a.dcm", b"second version")
        host.wait_idle(timeout=30)

    events = _recorded_events(blob_service)
    assert len(events) == 2
    assert len({e["data"]["eTag"] for e in events}) == 2
    assert sorted(e["data"]["contentLength"] for e in events) == [5, 14]


def test_retries_failed_delivery_until_it_succeeds(
    devhost_env: dict[str, str], blob_service: BlobServiceClient
) -> None:
    env = _env(
        devhost_env,
        MEDLAKE_DEVHOST_EVENT_FUNCTIONS="fail_first_attempts",
        SAMPLE_FAIL_FIRST="2",
        MEDLAKE_DEVHOST_MAX_DELIVERIES="3",
    )
    with running_devhost(env, app=SAMPLE_APP) as host:
        _upload(blob_service, "retry.dcm")
        host.wait_idle(timeout=30)
        counters = host.status()["counters"]

    assert counters == {
        "attempted": 3,
        "succeeded": 1,
        "failed": 2,
        "retried": 2,
        "deadLettered": 0,
        "deadLetterFailures": 0,
    }
    assert len(_probe_names(blob_service, "succeeded/")) == 1
    assert list(blob_service.get_container_client(DEADLETTER).list_blob_names()) == []


def test_dead_letters_after_max_deliveries(
    devhost_env: dict[str, str], blob_service: BlobServiceClient
) -> None:
    env = _env(
        devhost_env,
        MEDLAKE_DEVHOST_EVENT_FUNCTIONS="always_fail",
        MEDLAKE_DEVHOST_MAX_DELIVERIES="3",
    )
    with running_devhost(env, app=SAMPLE_APP) as host:
        _upload(blob_service, PATIENT_BLOB)
        host.wait_idle(timeout=30)
        host.wait_idle(timeout=30)  # the blob left in incoming is not redelivered
        counters = host.status()["counters"]

    [name] = blob_service.get_container_client(DEADLETTER).list_blob_names()
    [document] = json.loads(
        blob_service.get_blob_client(DEADLETTER, name).download_blob().readall()
    )
    assert name == deadletter_blob_name(
        document["id"], datetime_of(document["eventTime"])
    )
    assert document["eventType"] == "Microsoft.Storage.BlobCreated"
    assert document["subject"].endswith(f"/blobs/{PATIENT_BLOB}")
    assert document["deadLetterReason"] == "MaxDeliveryAttemptsExceeded"
    assert document["deliveryAttempts"] == 3
    assert document["lastDeliveryOutcome"] == "GenericError"
    assert document["lastErrorType"] == "ValueError"
    assert document["lastErrorMessage"] == "always fails"
    assert document["publishTime"] <= document["lastDeliveryAttemptTime"]
    assert counters["attempted"] == 3
    assert counters["deadLettered"] == 1
    assert blob_service.get_blob_client(INCOMING, PATIENT_BLOB).exists()
    assert len(_probe_names(blob_service, f"attempts/{document['id']}/")) == 3


def datetime_of(text: str) -> Any:
    from devhost.events import parse_time

    return parse_time(text)


def test_crashed_worker_is_replaced_and_delivery_retried(
    devhost_env: dict[str, str], blob_service: BlobServiceClient
) -> None:
    env = _env(devhost_env, MEDLAKE_DEVHOST_EVENT_FUNCTIONS="crash_first_attempt")
    with running_devhost(env, app=SAMPLE_APP) as host:
        _upload(blob_service, "crash.dcm")
        host.wait_idle(timeout=60)
        status = host.status()

    assert status["workers"]["restarts"] == 1
    assert status["counters"]["failed"] == 1
    assert status["counters"]["succeeded"] == 1
    assert len(_probe_names(blob_service, "succeeded/")) == 1


def test_bulk_upload_uses_every_worker(
    devhost_env: dict[str, str], blob_service: BlobServiceClient
) -> None:
    env = _env(
        devhost_env,
        MEDLAKE_DEVHOST_EVENT_FUNCTIONS="record_event",
        SAMPLE_RECORD_SLEEP="0.3",
    )
    with running_devhost(env, app=SAMPLE_APP, workers=2) as host:
        for index in range(20):
            _upload(blob_service, f"bulk/{index:02d}.dcm")
        host.wait_idle(timeout=60)

    events = _recorded_events(blob_service)
    assert len(events) == 20
    assert len({e["subject"] for e in events}) == 20
    by_pid: dict[int, list[tuple[float, float]]] = {}
    for event in events:
        by_pid.setdefault(event["pid"], []).append(
            (event["started"], event["finished"])
        )
    assert len(by_pid) == 2
    first, second = by_pid.values()
    assert any(a0 < b1 and b0 < a1 for a0, a1 in first for b0, b1 in second), (
        "the two workers never ran at the same time"
    )


def test_one_worker_runs_invocations_in_its_threads_at_once(
    devhost_env: dict[str, str], blob_service: BlobServiceClient
) -> None:
    env = _env(
        devhost_env,
        MEDLAKE_DEVHOST_EVENT_FUNCTIONS="record_event",
        SAMPLE_RECORD_SLEEP="0.5",
    )
    with running_devhost(env, app=SAMPLE_APP, workers=1, threads=3) as host:
        for index in range(6):
            _upload(blob_service, f"threads/{index}.dcm")
        host.wait_idle(timeout=60)
        status = host.status()

    events = _recorded_events(blob_service)
    assert len(events) == 6
    assert len({event["pid"] for event in events}) == 1
    assert status["workers"]["threads"] == 3
    intervals = sorted((e["started"], e["finished"]) for e in events)
    # The most runs overlapping at any start: three threads, never more.
    overlaps = [
        sum(1 for s, f in intervals if s <= start < f) for start, _ in intervals
    ]
    assert max(overlaps) == 3


def test_listing_waits_while_the_workers_have_a_backlog(
    devhost_env: dict[str, str], blob_service: BlobServiceClient
) -> None:
    env = _env(
        devhost_env,
        MEDLAKE_DEVHOST_EVENT_FUNCTIONS="record_event",
        SAMPLE_RECORD_SLEEP="0.4",
    )
    for index in range(6):
        _upload(blob_service, f"backlog/{index}.dcm")
    with running_devhost(env, app=SAMPLE_APP, workers=1, threads=1) as host:
        deadline = time.monotonic() + 30
        while host.status()["watcher"]["eventsPublished"] < 6:
            assert time.monotonic() < deadline, "the first listing never came"
            time.sleep(0.05)
        polls = host.status()["watcher"]["pollsStarted"]
        _upload(blob_service, "backlog/late.dcm")
        # Ten poll intervals, while five deliveries of 0.4 s wait for the worker.
        time.sleep(1.0)
        during = host.status()["watcher"]
        host.wait_idle(timeout=60)
        after = host.status()["watcher"]

    assert during["pollsStarted"] == polls
    assert during["pollsDeferred"] >= 1
    assert after["eventsPublished"] == 7
    subjects = [e["subject"] for e in _recorded_events(blob_service)]
    assert len(subjects) == len(set(subjects)) == 7
    assert any(s.endswith("/backlog/late.dcm") for s in subjects)


def test_listing_pages_are_published_as_they_arrive(
    devhost_env: dict[str, str], blob_service: BlobServiceClient
) -> None:
    env = _env(
        devhost_env,
        MEDLAKE_DEVHOST_EVENT_FUNCTIONS="record_event",
        SAMPLE_RECORD_SLEEP="0.05",
    )
    total = 2 * LISTING_PAGE_SIZE + 5
    container = blob_service.get_container_client(INCOMING)
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(
            pool.map(
                lambda index: container.upload_blob(f"pages/{index:04d}.dcm", b"DICM"),
                range(total),
            )
        )
    published_seen: set[int] = set()
    with running_devhost(env, app=SAMPLE_APP, workers=1, threads=4) as host:
        deadline = time.monotonic() + 90
        while host.status()["counters"]["succeeded"] < total:
            assert time.monotonic() < deadline, "the backlog never drained"
            published_seen.add(host.status()["watcher"]["eventsPublished"])
            time.sleep(0.05)
        host.wait_idle(timeout=60)  # a later poll must not publish them again
        watcher = host.status()["watcher"]

    # The first page went out before the next was read, and the next waited
    # for the backlog of the first.
    assert LISTING_PAGE_SIZE in published_seen
    assert watcher["eventsPublished"] == total
    assert watcher["tracked"] == total
    subjects = [e["subject"] for e in _recorded_events(blob_service)]
    assert len(subjects) == len(set(subjects)) == total


def test_watcher_outlives_unreachable_storage(devhost_env: dict[str, str]) -> None:
    port = free_port()
    env = _env(
        devhost_env,
        MEDLAKE_STORAGE_CONNECTION=connection_string(port),
        MEDLAKE_DEVHOST_EVENT_FUNCTIONS="record_event",
    )
    with running_devhost(env, app=SAMPLE_APP) as host:
        wait_for(lambda: host.status()["watcher"]["state"] == "unreachable")
        with running_azurite(port=port) as late_connection_string:
            wait_for(lambda: host.status()["watcher"]["state"] == "running")
            with BlobServiceClient.from_connection_string(
                late_connection_string
            ) as service:
                _upload(service, "late.dcm")
                host.wait_idle(timeout=30)
                assert len(_recorded_events(service)) == 1
        log = host.log_text()
    assert "storage unreachable (ServiceRequestError)" in log


def wait_for(condition: Any, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.1)
