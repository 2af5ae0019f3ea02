"""The ingest function end to end: Azurite, the dev host, real sockets.

Each test starts its own dev host (the real ``function_app``) against the session's
Azurite, uploads with the storage SDK as any client would, and inspects the
containers and the outcome events the app published to the dev host's topic.
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from azure.storage.blob import BlobServiceClient

from lib.lake.staging import staged_rows
from lib.samples import SyntheticPatient, ct_instance
from lib.storage import DEADLETTER, DEID, INCOMING, LAKE, QUARANTINE, RAW, raw_blob_name
from lib.validation import CATALOGUE, Severity
from tests.support.devhost import DevHost, running_devhost
from tests.support.malformed import MALFORMED

TOPIC_KEY = "test-topic-key"
DEID_KEY = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"


def host_env(
    connection_string: str, port: int, state_dir: Path, **extra: str
) -> dict[str, str]:
    return {
        "MEDLAKE_STORAGE_CONNECTION": connection_string,
        "MEDLAKE_DEV_MODE": "true",
        "MEDLAKE_OUTCOME_TOPIC_ENDPOINT": (
            f"http://127.0.0.1:{port}/runtime/topics/outcomes/api/events"
        ),
        "MEDLAKE_OUTCOME_TOPIC_KEY": TOPIC_KEY,
        "MEDLAKE_DEID_KEY": DEID_KEY,
        "MEDLAKE_DEID_KEY_VERSION": "test-1",
        "MEDLAKE_DEVHOST_POLL_SECONDS": "0.1",
        "MEDLAKE_DEVHOST_RETRY_BASE_SECONDS": "0.05",
        "MEDLAKE_DEVHOST_MAX_DELIVERIES": "4",
        "MEDLAKE_FAULT_STATE_DIR": str(state_dir),
        **extra,
    }


@pytest.fixture
def start_host(
    azurite_connection_string: str, blob_service: BlobServiceClient, tmp_path: Path
) -> Iterator[Any]:
    from contextlib import ExitStack

    from tests.support.azurite import free_port

    with ExitStack() as stack:

        def start(*, watch: bool = True, **extra: str) -> DevHost:
            port = free_port()
            env = host_env(azurite_connection_string, port, tmp_path, **extra)
            return stack.enter_context(running_devhost(env, port=port, watch=watch))

        yield start


def names(service: BlobServiceClient, container: str) -> list[str]:
    return sorted(b.name for b in service.get_container_client(container).list_blobs())


def wait_until_empty(service: BlobServiceClient, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while names(service, INCOMING):
        if time.monotonic() > deadline:
            raise TimeoutError(f"incoming still holds {names(service, INCOMING)}")
        time.sleep(0.1)


def put(service: BlobServiceClient, name: str, data: bytes) -> str:
    props = service.get_blob_client(INCOMING, name).upload_blob(data, overwrite=True)
    return str(props["etag"]).strip('"')


def valid_instance(number: int) -> bytes:
    return ct_instance(SyntheticPatient(number), 1, 1, number, rows=32, columns=32)


def blob_created(name: str, etag: str, size: int) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "topic": "/subscriptions/0/resourceGroups/rg/providers/"
        "Microsoft.Storage/storageAccounts/devstoreaccount1",
        "subject": f"/blobServices/default/containers/incoming/blobs/{name}",
        "eventType": "Microsoft.Storage.BlobCreated",
        "eventTime": datetime.now(UTC).isoformat(),
        "data": {"api": "PutBlob", "eTag": etag, "contentLength": size},
        "dataVersion": "",
        "metadataVersion": "1",
    }


def deliver(host: DevHost, events: list[dict[str, Any]]) -> int:
    result = host.request(
        "POST",
        "/runtime/webhooks/eventgrid",
        params={"functionName": "ingest_blob_created", "code": host.eventgrid_key},
        headers={"aeg-event-type": "Notification", "content-type": "application/json"},
        body=json.dumps(events),
    )
    return result.status


def test_mixed_upload_lands_every_file_in_raw_or_quarantine(
    start_host: Any, blob_service: BlobServiceClient
) -> None:
    host = start_host()
    valid = {f"valid/{n}.dcm": valid_instance(n) for n in range(1, 7)}
    broken = {f"broken/{name}.dcm": make() for name, (make, _) in MALFORMED.items()}
    expected_code = {
        hashlib.sha256(broken[f"broken/{name}.dcm"]).hexdigest(): code
        for name, (_, code) in MALFORMED.items()
    }
    rejected_shas = {
        sha
        for sha, code in expected_code.items()
        if CATALOGUE[code].default is Severity.REJECT
    }

    for name, data in {**valid, **broken}.items():
        put(blob_service, name, data)
    wait_until_empty(blob_service)
    host.wait_idle(timeout=30)

    raw = names(blob_service, RAW)
    quarantined = [n for n in names(blob_service, QUARANTINE) if n.endswith(".json")]
    outcomes = host.published_events("outcomes")
    accepted = [e for e in outcomes if e["eventType"] == "Medlake.InstanceAccepted"]
    rejected = [e for e in outcomes if e["eventType"] == "Medlake.InstanceRejected"]
    assert len(accepted) + len(rejected) == len(valid) + len(broken)
    assert len(rejected) == len(quarantined)
    assert rejected_shas <= {e["data"]["sha256"] for e in rejected}
    for name in quarantined:
        record = json.loads(
            blob_service.get_blob_client(QUARANTINE, name).download_blob().readall()
        )
        if record["sha256"] in rejected_shas:
            assert record["code"] == expected_code[record["sha256"]]
        else:
            # Passed validation with a warning, then the de-identifier refused it.
            assert record["code"].startswith("DEID_")
        assert "LEAKCHECK" not in json.dumps(record)
    for data in valid.values():
        assert raw_blob_name(hashlib.sha256(data).hexdigest()) in raw
    # Samples derived from one valid instance share its SOP Instance UID, so
    # they share one de-identified location: the first write wins.
    locations = {e["data"]["deid"]["location"] for e in accepted}
    assert {f"deid/{name}" for name in names(blob_service, DEID)} == locations
    assert "LEAKCHECK" not in json.dumps(outcomes)
    assert "LEAKCHECK" not in host.log_text()


def test_same_event_three_times_and_identical_bytes_twice(
    start_host: Any, blob_service: BlobServiceClient
) -> None:
    host = start_host(watch=False)
    data = valid_instance(11)
    event = blob_created("first.dcm", put(blob_service, "first.dcm", data), len(data))
    twin = blob_created("second.dcm", put(blob_service, "second.dcm", data), len(data))

    statuses = [deliver(host, [event]) for _ in range(3)] + [deliver(host, [twin])]

    assert statuses == [200, 200, 200, 200]
    assert names(blob_service, RAW) == [raw_blob_name(hashlib.sha256(data).hexdigest())]
    assert names(blob_service, INCOMING) == []
    published = host.published_events("outcomes")
    assert len(published) == 2
    assert len({e["id"] for e in published}) == 2
    # Identical bytes de-identify to the same instance.
    assert len(names(blob_service, DEID)) == 1


def test_cloud_event_schema_is_accepted(
    start_host: Any, blob_service: BlobServiceClient
) -> None:
    host = start_host(watch=False)
    data = valid_instance(12)
    etag = put(blob_service, "ce.dcm", data)
    event = blob_created("ce.dcm", etag, len(data))
    cloud_event = {
        "specversion": "1.0",
        "id": event["id"],
        "source": event["topic"],
        "subject": event["subject"],
        "type": event["eventType"],
        "time": event["eventTime"],
        "data": event["data"],
    }

    result = host.request(
        "POST",
        "/runtime/webhooks/eventgrid",
        params={"functionName": "ingest_blob_created", "code": host.eventgrid_key},
        headers={
            "aeg-event-type": "Notification",
            "content-type": "application/cloudevents+json",
        },
        body=json.dumps(cloud_event),
    )

    assert result.status == 200
    assert len(names(blob_service, RAW)) == 1


def test_other_event_types_and_containers_are_ignored(
    start_host: Any, blob_service: BlobServiceClient
) -> None:
    host = start_host(watch=False)
    data = valid_instance(13)
    etag = put(blob_service, "stay.dcm", data)
    deleted = blob_created("stay.dcm", etag, len(data))
    deleted["eventType"] = "Microsoft.Storage.BlobDeleted"
    elsewhere = blob_created("stay.dcm", etag, len(data))
    elsewhere["subject"] = "/blobServices/default/containers/raw/blobs/stay.dcm"

    assert deliver(host, [deleted, elsewhere]) == 200

    assert names(blob_service, INCOMING) == ["stay.dcm"]
    assert names(blob_service, RAW) == []


def test_failure_after_archive_is_retried_to_completion(
    start_host: Any, blob_service: BlobServiceClient
) -> None:
    host = start_host(MEDLAKE_FAULTS="after_archive:2")
    data = valid_instance(14)

    put(blob_service, "flaky.dcm", data)
    wait_until_empty(blob_service)
    host.wait_idle(timeout=30)

    assert names(blob_service, RAW) == [raw_blob_name(hashlib.sha256(data).hexdigest())]
    assert names(blob_service, DEADLETTER) == []
    counters = host.status()["counters"]
    assert counters["failed"] == 2
    assert counters["succeeded"] == 1


def test_after_the_last_retry_the_event_is_dead_lettered_and_nothing_lost(
    start_host: Any, blob_service: BlobServiceClient
) -> None:
    host = start_host(MEDLAKE_FAULTS="after_archive:always")
    data = valid_instance(15)

    put(blob_service, "doomed.dcm", data)
    deadline = time.monotonic() + 30
    while not names(blob_service, DEADLETTER) and time.monotonic() < deadline:
        time.sleep(0.1)
    host.wait_idle(timeout=30)

    letters = names(blob_service, DEADLETTER)
    assert len(letters) == 1
    # Event Grid writes dead-letter blobs as a JSON array of events.
    [letter] = json.loads(
        blob_service.get_blob_client(DEADLETTER, letters[0]).download_blob().readall()
    )
    assert letter["deadLetterReason"] == "MaxDeliveryAttemptsExceeded"
    assert letter["deliveryAttempts"] == 4
    assert names(blob_service, INCOMING) == ["doomed.dcm"]
    assert host.published_events("outcomes") == []


def test_fifty_concurrent_uploads_all_complete(
    start_host: Any, blob_service: BlobServiceClient
) -> None:
    host = start_host()
    uploads = {f"bulk/{n:03d}.dcm": valid_instance(100 + n) for n in range(50)}

    with ThreadPoolExecutor(max_workers=10) as pool:
        list(pool.map(lambda item: put(blob_service, *item), uploads.items()))
    wait_until_empty(blob_service, timeout=90)
    host.wait_idle(timeout=30)

    assert len(names(blob_service, RAW)) == 50
    status = host.status()
    assert status["state"] == "running"
    assert status["counters"]["failed"] == 0
    outcomes = host.published_events("outcomes")
    assert len({event["id"] for event in outcomes}) == len(outcomes) == 50
    # Uploads that finished together staged their lake rows in one blob.
    lake = blob_service.get_container_client(LAKE)
    staged = [
        json.loads(lake.download_blob(b.name).readall())
        for b in lake.list_blobs(name_starts_with="staging/")
    ]
    rows = [entry["row"] for doc in staged for entry in staged_rows(doc)]
    assert len({row["sop_instance_uid"] for row in rows}) == len(rows) == 50
    assert len(staged) < 50
