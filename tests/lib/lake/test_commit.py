"""Staging and committing rows: counts, exactly once, crashes and overlaps."""

from __future__ import annotations

import json
import threading
from collections import Counter

import pytest
from azure.core.exceptions import HttpResponseError
from azure.storage.blob import BlobServiceClient, ContainerClient

from lib.errors import TransientError
from lib.ingest import IngestPipeline
from lib.ingest.pipeline import IngestStatus
from lib.lake import (
    LakeBusy,
    LakeCommitter,
    LakeLocation,
    LakeSettings,
    Stager,
    commit_lock,
)
from tests.lib.lake.conftest import ingest, instance, read, staged, upload
from tests.support.malformed import MALFORMED


def test_commit_writes_one_row_per_instance_series_and_study(
    pipeline: IngestPipeline, blob_service: BlobServiceClient, committer: LakeCommitter
) -> None:
    corpus = [instance(1, 1, s, n) for s in (1, 2) for n in (1, 2, 3)]
    corpus += [instance(2, 1, 1, n) for n in (1, 2)]
    for data in corpus:
        assert ingest(pipeline, blob_service, data).status is IngestStatus.ACCEPTED
    assert len(staged(blob_service)) == len(corpus)

    result = committer.commit()

    assert result.inserted["instances"] == len(corpus)
    assert staged(blob_service) == []
    instances = read(committer, "instances")
    assert instances.num_rows == 8
    series = read(committer, "series").to_pylist()
    assert sorted(r["instance_count"] for r in series) == [2, 3, 3]
    studies = read(committer, "studies").to_pylist()
    assert sorted((r["series_count"], r["instance_count"]) for r in studies) == [
        (1, 2),
        (2, 6),
    ]
    assert {r["modalities"] for r in studies} == {"CT"}
    row = instances.to_pylist()[0]
    assert row["modality"] == "CT"
    assert row["rows"] == 16
    assert row["deid_profile"] == "research"
    assert row["key_version"] == "test-1"
    assert row["committed_time"] >= row["processed_time"] >= row["ingest_time"]


def test_commit_with_nothing_staged_creates_nothing(
    committer: LakeCommitter, blob_service: BlobServiceClient
) -> None:
    result = committer.commit()

    assert not result.skipped
    assert result.staged == {}


def test_redelivery_and_duplicate_uploads_leave_counts_unchanged(
    pipeline: IngestPipeline, blob_service: BlobServiceClient, committer: LakeCommitter
) -> None:
    data = instance(3)
    event = upload(blob_service, data)
    pipeline.handle(event)
    pipeline.handle(event)  # redelivered before the commit
    committer.commit()

    ingest(pipeline, blob_service, data)  # identical bytes, another upload
    pipeline.handle(event)  # redelivered after the commit (upload is gone)
    twin = upload(blob_service, data, name="again/twin.dcm")
    pipeline.handle(twin)
    pipeline.handle(twin)
    second = committer.commit()

    assert second.inserted.get("instances", 0) == 0
    for table, expected in {"instances": 1, "series": 1, "studies": 1}.items():
        assert read(committer, table).num_rows == expected, table


def test_quarantined_upload_becomes_one_rejection_row_without_values(
    pipeline: IngestPipeline, blob_service: BlobServiceClient, committer: LakeCommitter
) -> None:
    make, code = MALFORMED["missing_study_instance_uid"]
    data = make()
    event = upload(blob_service, data)
    assert pipeline.handle(event).status is IngestStatus.REJECTED
    pipeline.handle(event)
    committer.commit()
    pipeline.handle(upload(blob_service, data, event_time=event.event_time))
    committer.commit()

    rows = read(committer, "rejections").to_pylist()

    assert len(rows) == 1
    assert rows[0]["code"] == code
    assert rows[0]["size_bytes"] == len(data)
    assert rows[0]["rejected_date"] == event.event_time.date()
    assert "LEAKCHECK" not in repr(rows)


def test_crash_between_staging_and_commit_loses_nothing(
    pipeline: IngestPipeline,
    blob_service: BlobServiceClient,
    location: LakeLocation,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for number in (1, 2, 3):
        ingest(pipeline, blob_service, instance(4, number=number))
    crashing = LakeCommitter(blob_service, location)

    def crash(*args: object) -> tuple[int, int]:
        raise TransientError("simulated crash before the Delta commit")

    monkeypatch.setattr(crashing, "_merge", crash)
    with pytest.raises(TransientError, match="simulated crash"):
        crashing.commit()
    assert len(staged(blob_service)) == 3

    committer = LakeCommitter(blob_service, location)
    committer.commit()

    assert read(committer, "instances").num_rows == 3
    assert staged(blob_service) == []


def test_crash_between_commit_and_cleanup_duplicates_nothing(
    pipeline: IngestPipeline,
    blob_service: BlobServiceClient,
    location: LakeLocation,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for number in (1, 2):
        ingest(pipeline, blob_service, instance(5, number=number))
    crashing = LakeCommitter(blob_service, location)

    def crash(names: object) -> None:
        raise TransientError("simulated crash before cleanup")

    monkeypatch.setattr(crashing, "_delete_staged", crash)
    with pytest.raises(TransientError, match="simulated crash"):
        crashing.commit()
    assert len(staged(blob_service)) == 2

    committer = LakeCommitter(blob_service, location)
    again = committer.commit()

    assert again.inserted["instances"] == 0
    assert read(committer, "instances").num_rows == 2
    assert read(committer, "studies").to_pylist()[0]["instance_count"] == 2
    assert staged(blob_service) == []


@pytest.mark.parametrize("use_lock", [True, False], ids=["lease", "optimistic"])
def test_overlapping_commit_runs_commit_each_staged_row_once(
    pipeline: IngestPipeline,
    blob_service: BlobServiceClient,
    location: LakeLocation,
    use_lock: bool,
) -> None:
    for patient in (6, 7):
        for number in (1, 2, 3):
            ingest(pipeline, blob_service, instance(patient, number=number))
    settings = LakeSettings(use_lock=use_lock)
    committers = [LakeCommitter(blob_service, location, settings) for _ in range(2)]
    committers[0].ensure_tables()
    barrier = threading.Barrier(2)
    results = []

    def run(committer: LakeCommitter) -> None:
        barrier.wait()
        results.append(committer.commit())

    threads = [threading.Thread(target=run, args=(c,)) for c in committers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    LakeCommitter(blob_service, location, settings).commit()  # whatever is left

    instances = read(committers[0], "instances")
    assert instances.num_rows == 6
    assert Counter(instances["sop_instance_uid"].to_pylist()).most_common(1)[0][1] == 1
    assert sum(r.inserted.get("instances", 0) for r in results) <= 6
    assert read(committers[0], "studies").num_rows == 2
    assert staged(blob_service) == []
    if use_lock:
        assert sum(r.skipped for r in results) <= 1


def test_rows_too_large_for_metadata_are_read_from_the_blob(
    pipeline: IngestPipeline,
    blob_service: BlobServiceClient,
    committer: LakeCommitter,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("lib.lake.staging.MAX_INLINE_METADATA", 0)
    ingest(pipeline, blob_service, instance(8))
    [name] = staged(blob_service)
    properties = blob_service.get_blob_client("lake", name).get_blob_properties()
    assert properties.metadata == {}

    committer.commit()

    assert read(committer, "instances").num_rows == 1


def test_commit_skips_while_another_run_holds_the_lease(
    pipeline: IngestPipeline, blob_service: BlobServiceClient, committer: LakeCommitter
) -> None:
    ingest(pipeline, blob_service, instance(9))

    with commit_lock(blob_service):
        result = committer.commit()
        with pytest.raises(LakeBusy), commit_lock(blob_service, wait_seconds=0.5):
            pass

    assert result.skipped
    assert len(staged(blob_service)) == 1
    assert committer.commit().inserted["instances"] == 1


def test_row_staged_for_an_unknown_table_is_left_for_a_newer_committer(
    pipeline: IngestPipeline, blob_service: BlobServiceClient, committer: LakeCommitter
) -> None:
    ingest(pipeline, blob_service, instance(10))
    future = "staging/future/2.25.1.json"
    document = {"schemaVersion": 1, "table": "future", "row": {"x": 1}}
    blob_service.get_blob_client("lake", future).upload_blob(json.dumps(document))

    result = committer.commit()

    assert result.inserted["instances"] == 1
    assert staged(blob_service) == [future]


def _restage_as_groups(
    service: BlobServiceClient, groups: list[list[int]]
) -> list[tuple[str, dict[str, object]]]:
    """Replace the single-row staged blobs by groups of them (by index)."""
    container = service.get_container_client("lake")
    names = staged(service)
    entries = [json.loads(container.download_blob(n).readall()) for n in names]
    rows = [(entry["table"], entry["row"]) for entry in entries]
    for name in names:
        container.delete_blob(name)
    stager = Stager(service)
    for group in groups:
        stager.stage_many([rows[index] for index in group])
    return rows


@pytest.mark.parametrize("inline", [True, False], ids=["listed", "downloaded"])
def test_grouped_rows_commit_once_even_when_staged_twice(
    pipeline: IngestPipeline,
    blob_service: BlobServiceClient,
    committer: LakeCommitter,
    monkeypatch: pytest.MonkeyPatch,
    inline: bool,
) -> None:
    if not inline:
        monkeypatch.setattr("lib.lake.staging.MAX_INLINE_METADATA", 0)
    for number in range(1, 6):
        ingest(pipeline, blob_service, instance(11, series=number % 2, number=number))
    # Row 0 is staged again in a second group and row 1 again on its own, as
    # redeliveries after a failed publish would.
    rows = _restage_as_groups(blob_service, [[0, 1], [2, 3, 4, 0]])
    Stager(blob_service).stage(*rows[1])
    assert len(staged(blob_service)) == 3
    listed = blob_service.get_container_client("lake").list_blobs(
        name_starts_with="staging/groups/", include=["metadata"]
    )
    assert all(bool(blob.metadata) is inline for blob in listed)

    result = committer.commit()

    assert result.inserted["instances"] == 5
    assert staged(blob_service) == []
    assert read(committer, "instances").num_rows == 5
    series = read(committer, "series").to_pylist()
    assert sorted(r["instance_count"] for r in series) == [2, 3]


def test_group_with_a_row_for_an_unknown_table_is_left_whole(
    pipeline: IngestPipeline, blob_service: BlobServiceClient, committer: LakeCommitter
) -> None:
    ingest(pipeline, blob_service, instance(12, number=1))
    ingest(pipeline, blob_service, instance(12, number=2))
    rows = _restage_as_groups(blob_service, [[0]])
    document = {
        "schemaVersion": 2,
        "rows": [
            {"table": rows[1][0], "row": rows[1][1]},
            {"table": "future", "row": {"x": 1}},
        ],
    }
    mixed = "staging/groups/20261203T000000Z-mixed.json"
    blob_service.get_blob_client("lake", mixed).upload_blob(json.dumps(document))

    result = committer.commit()

    assert result.inserted["instances"] == 1
    assert staged(blob_service) == [mixed]


def test_staged_rows_are_deleted_one_by_one_where_blob_batch_is_refused(
    pipeline: IngestPipeline,
    blob_service: BlobServiceClient,
    location: LakeLocation,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # An account that refuses Blob Batch as a whole (as some account kinds
    # and emulators do) must not leave committed rows staged forever.
    for number in range(1, 4):
        ingest(pipeline, blob_service, instance(6, number=number))
    refused: list[int] = []

    def refuse(self: ContainerClient, *names: str, **kwargs: object) -> None:
        refused.append(len(names))
        error = HttpResponseError(message="Blob Batch is not supported")
        error.status_code = 405
        raise error

    monkeypatch.setattr(ContainerClient, "delete_blobs", refuse)
    committer = LakeCommitter(blob_service, location, LakeSettings(commit_max_rows=2))
    with caplog.at_level("WARNING", logger="lib.lake.commit"):
        committer.commit()
        committer.commit()

    assert staged(blob_service) == []
    assert read(committer, "instances").num_rows == 3
    assert refused == [2]  # refused once, then never asked again
    assert "Blob Batch refused (HTTP 405)" in caplog.text
