"""The lake through the real Function App: dev host, watcher, timer, HTTP."""

from __future__ import annotations

import json
from pathlib import Path

from azure.storage.blob import BlobServiceClient

from lib.lake import LakeCommitter, LakeLocation
from lib.settings import Settings
from lib.storage import INCOMING
from tests.lib.lake.conftest import DEID_KEY, instance, staged, staged_row_count
from tests.support.azurite import free_port
from tests.support.devhost import DevHost, running_devhost
from tests.support.malformed import MALFORMED


def run_timer(host: DevHost, name: str) -> None:
    result = host.request(
        "POST",
        f"/admin/functions/{name}",
        headers={
            "x-functions-key": host.master_key,
            "content-type": "application/json",
        },
        body=json.dumps({"input": ""}),
    )
    assert result.status == 202, result.body
    host.wait_idle(timeout=60)


def wait_until_ingested(service: BlobServiceClient, host: DevHost) -> None:
    import time

    deadline = time.monotonic() + 60
    while list(service.get_container_client(INCOMING).list_blobs()):
        assert time.monotonic() < deadline, "incoming was not emptied"
        time.sleep(0.1)
    host.wait_idle(timeout=60)


def test_tables_appear_after_ingest_and_summary_agrees(
    azurite_connection_string: str, blob_service: BlobServiceClient, tmp_path: Path
) -> None:
    port = free_port()
    env = {
        "MEDLAKE_STORAGE_CONNECTION": azurite_connection_string,
        "MEDLAKE_DEV_MODE": "true",
        "MEDLAKE_OUTCOME_TOPIC_ENDPOINT": (
            f"http://127.0.0.1:{port}/runtime/topics/outcomes/api/events"
        ),
        "MEDLAKE_OUTCOME_TOPIC_KEY": "test-topic-key",
        "MEDLAKE_DEID_KEY": DEID_KEY,
        "MEDLAKE_DEVHOST_POLL_SECONDS": "0.1",
        "MEDLAKE_DEVHOST_RETRY_BASE_SECONDS": "0.05",
        "MEDLAKE_FAULT_STATE_DIR": str(tmp_path),
    }
    valid = [instance(21, 1, 1, n) for n in (1, 2, 3)] + [instance(22, 1, 1, 1)]
    make, code = MALFORMED["missing_study_instance_uid"]
    incoming = blob_service.get_container_client(INCOMING)

    with running_devhost(env, port=port, watch=True) as host:
        for number, data in enumerate([*valid, make()]):
            incoming.upload_blob(f"SMITH^JOHN/{number}.dcm", data)
        wait_until_ingested(blob_service, host)
        assert staged_row_count(blob_service) == len(valid) + 1

        run_timer(host, "lake_commit")
        run_timer(host, "lake_maintenance")
        failed = host.status()["counters"]["failed"]
        summary = host.request(
            "GET", "/api/analytics/summary", params={"code": host.function_key}
        )
        unauthorised = host.request("GET", "/api/analytics/summary")
        log = host.log_text()

    assert staged(blob_service) == []
    committer = LakeCommitter(
        blob_service, LakeLocation(Settings(azurite_connection_string))
    )
    counts = {
        name: committer.table(name).to_pyarrow_table().num_rows
        for name in ("instances", "series", "studies", "rejections")
    }
    assert counts == {"instances": 4, "series": 2, "studies": 2, "rejections": 1}
    assert failed == 0
    assert summary.status == 200
    figures = summary.json()
    assert figures["counts"]["instances"] == 4
    assert figures["rejection_rate_by_code"] == {code: 1 / 5}
    assert figures["latency_p50_ms"] > 0
    assert unauthorised.status == 401
    assert "SMITH" not in log
