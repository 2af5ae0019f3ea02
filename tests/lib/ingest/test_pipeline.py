"""The ingest flow in-process, against Azurite (no dev host)."""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from azure.storage.blob import BlobServiceClient

from lib.errors import ConfigurationError, TransientError
from lib.events import INSTANCE_ACCEPTED, INSTANCE_REJECTED, BlobCreated, Outcome
from lib.ingest import (
    FaultInjector,
    IngestPipeline,
    IngestStatus,
    InjectedFault,
    Upload,
)
from lib.samples import SyntheticPatient, ct_instance
from lib.samples.broken import missing_study_instance_uid, not_dicom
from lib.storage import INCOMING, QUARANTINE, RAW
from lib.validation import Policy

PLANTED_NAME = "SYNTHETIC^PATIENT0042"


class RecordingPublisher:
    """Keeps published outcomes in memory (the dev host tests use the real topic)."""

    def __init__(self) -> None:
        self.outcomes: list[Outcome] = []
        self.requests = 0

    def publish(self, outcomes: Sequence[Outcome]) -> None:
        self.requests += 1
        self.outcomes.extend(outcomes)


def upload(service: BlobServiceClient, name: str, data: bytes) -> BlobCreated:
    blob = service.get_blob_client(INCOMING, name)
    props = blob.upload_blob(data, overwrite=True)
    return BlobCreated(
        event_id=str(uuid.uuid4()),
        event_time=datetime.now(UTC),
        container=INCOMING,
        blob_name=name,
        etag=str(props["etag"]).strip('"'),
        content_length=len(data),
    )


def names(service: BlobServiceClient, container: str) -> list[str]:
    return sorted(b.name for b in service.get_container_client(container).list_blobs())


def make_pipeline(
    service: BlobServiceClient, publisher: RecordingPublisher, **options: object
) -> IngestPipeline:
    settings: dict[str, object] = {
        "policy": Policy.from_setting(""),
        "publisher": publisher,
        "max_upload_bytes": 2**31,
        "spool_threshold_bytes": 2**20,
    }
    settings.update(options)
    return IngestPipeline(service, **settings)  # type: ignore[arg-type]


@pytest.fixture
def publisher() -> RecordingPublisher:
    return RecordingPublisher()


@pytest.fixture
def valid() -> bytes:
    return ct_instance(SyntheticPatient(42), 1, 1, 1, rows=64, columns=64)


def test_accepts_valid_upload_into_raw(
    blob_service: BlobServiceClient, publisher: RecordingPublisher, valid: bytes
) -> None:
    event = upload(blob_service, "a/PATIENT0042.dcm", valid)

    result = make_pipeline(blob_service, publisher).handle(event)

    assert result.status is IngestStatus.ACCEPTED
    assert names(blob_service, RAW) == [
        f"sha256/{result.sha256[:2]}/{result.sha256}.dcm"
    ]
    assert names(blob_service, INCOMING) == []
    assert names(blob_service, QUARANTINE) == []
    raw = blob_service.get_blob_client(RAW, names(blob_service, RAW)[0])
    assert raw.download_blob().readall() == valid
    assert [o.event_type for o in publisher.outcomes] == [INSTANCE_ACCEPTED]
    assert "PATIENT0042" not in json.dumps(publisher.outcomes[0].to_data())


def test_upload_with_snapshots_leaves_incoming_with_them(
    blob_service: BlobServiceClient, publisher: RecordingPublisher, valid: bytes
) -> None:
    # A snapshot taken by the uploader (some backup tools do) must not pin the
    # blob in incoming: without x-ms-delete-snapshots the delete fails with 409
    # SnapshotsPresent on every retry until the event is dead-lettered.
    event = upload(blob_service, "snapshotted.dcm", valid)
    blob_service.get_blob_client(INCOMING, "snapshotted.dcm").create_snapshot()

    result = make_pipeline(blob_service, publisher).handle(event)

    assert result.status is IngestStatus.ACCEPTED
    incoming = blob_service.get_container_client(INCOMING)
    assert list(incoming.list_blobs(include=["snapshots"])) == []


def test_rejects_into_quarantine_with_reason(
    blob_service: BlobServiceClient, publisher: RecordingPublisher
) -> None:
    data = missing_study_instance_uid()
    event = upload(blob_service, "broken.dcm", data)

    result = make_pipeline(blob_service, publisher).handle(event)

    assert result.status is IngestStatus.REJECTED
    assert result.codes[0] == "IDENTIFIER_MISSING"
    day = f"{event.event_time:%Y/%m/%d}"
    assert names(blob_service, QUARANTINE) == [
        f"{day}/{result.sha256}.dcm",
        f"{day}/{result.sha256}.json",
    ]
    record = json.loads(
        blob_service.get_blob_client(QUARANTINE, f"{day}/{result.sha256}.json")
        .download_blob()
        .readall()
    )
    assert record["code"] == "IDENTIFIER_MISSING"
    assert record["keyword"] == "StudyInstanceUID"
    assert record["size"] == len(data)
    assert record["eventId"] == event.event_id
    assert "SYNTHETIC" not in json.dumps(record)
    assert names(blob_service, INCOMING) == []
    assert [o.event_type for o in publisher.outcomes] == [INSTANCE_REJECTED]


def test_redelivery_changes_nothing(
    blob_service: BlobServiceClient, publisher: RecordingPublisher, valid: bytes
) -> None:
    event = upload(blob_service, "x.dcm", valid)
    pipeline = make_pipeline(blob_service, publisher)

    results = [pipeline.handle(event) for _ in range(3)]

    assert [r.status for r in results] == [
        IngestStatus.ACCEPTED,
        IngestStatus.SKIPPED,
        IngestStatus.SKIPPED,
    ]
    assert len(names(blob_service, RAW)) == 1
    assert len(publisher.outcomes) == 1


def test_identical_uploads_share_one_archive_blob(
    blob_service: BlobServiceClient, publisher: RecordingPublisher, valid: bytes
) -> None:
    pipeline = make_pipeline(blob_service, publisher)
    first = upload(blob_service, "one.dcm", valid)
    second = upload(blob_service, "two.dcm", valid)

    pipeline.handle(first)
    pipeline.handle(second)

    assert len(names(blob_service, RAW)) == 1
    assert names(blob_service, INCOMING) == []
    assert {o.event_id for o in publisher.outcomes} == {
        Outcome(INSTANCE_ACCEPTED, e.event_id, "0" * 64, 0, "").event_id
        for e in (first, second)
    }


def test_superseded_version_is_skipped_and_newer_kept(
    blob_service: BlobServiceClient, publisher: RecordingPublisher, valid: bytes
) -> None:
    old = upload(blob_service, "same-name.dcm", not_dicom())
    upload(blob_service, "same-name.dcm", valid)

    result = make_pipeline(blob_service, publisher).handle(old)

    assert result.status is IngestStatus.SKIPPED
    assert names(blob_service, INCOMING) == ["same-name.dcm"]
    assert publisher.outcomes == []


def test_failure_after_archive_loses_nothing_and_retry_completes(
    blob_service: BlobServiceClient,
    publisher: RecordingPublisher,
    valid: bytes,
    tmp_path: Path,
) -> None:
    event = upload(blob_service, "retry.dcm", valid)
    pipeline = make_pipeline(
        blob_service, publisher, faults=FaultInjector("after_archive:1", str(tmp_path))
    )

    with pytest.raises(InjectedFault):
        pipeline.handle(event)
    assert names(blob_service, INCOMING) == ["retry.dcm"]
    assert len(names(blob_service, RAW)) == 1

    result = pipeline.handle(event)

    assert result.status is IngestStatus.ACCEPTED
    assert names(blob_service, INCOMING) == []
    assert len(publisher.outcomes) == 1


def test_large_upload_streams_through_a_temporary_file(
    blob_service: BlobServiceClient, publisher: RecordingPublisher
) -> None:
    data = ct_instance(SyntheticPatient(7), 1, 1, 1, rows=1024, columns=1024)
    event = upload(blob_service, "large.dcm", data)

    result = make_pipeline(blob_service, publisher, spool_threshold_bytes=0).handle(
        event
    )

    assert result.status is IngestStatus.ACCEPTED
    assert result.size == len(data)


def test_oversized_upload_is_quarantined(
    blob_service: BlobServiceClient, publisher: RecordingPublisher, valid: bytes
) -> None:
    event = upload(blob_service, "big.dcm", valid)

    result = make_pipeline(blob_service, publisher, max_upload_bytes=1000).handle(event)

    assert result.status is IngestStatus.REJECTED
    assert result.codes[0] == "SIZE_LIMIT_EXCEEDED"


def test_warnings_are_kept_with_the_archived_instance(
    blob_service: BlobServiceClient, publisher: RecordingPublisher
) -> None:
    from tests.support.malformed import sop_instance_uid_mismatch

    event = upload(blob_service, "warned.dcm", sop_instance_uid_mismatch())

    result = make_pipeline(blob_service, publisher).handle(event)

    assert result.status is IngestStatus.ACCEPTED
    assert result.codes == ("SOP_INSTANCE_UID_MISMATCH",)
    raw = blob_service.get_blob_client(RAW, names(blob_service, RAW)[0])
    metadata = raw.get_blob_properties().metadata
    assert metadata["validation_warnings"] == "SOP_INSTANCE_UID_MISMATCH"
    assert publisher.outcomes[0].codes == ("SOP_INSTANCE_UID_MISMATCH",)


def test_archive_is_the_validated_version_byte_for_byte(
    blob_service: BlobServiceClient, publisher: RecordingPublisher, valid: bytes
) -> None:
    event = upload(blob_service, "exact.dcm", valid)

    result = make_pipeline(blob_service, publisher).handle(event)

    archived = (
        blob_service.get_blob_client(RAW, names(blob_service, RAW)[0])
        .download_blob()
        .readall()
    )
    assert hashlib.sha256(archived).hexdigest() == result.sha256


class RowStage:
    """Stages one row per upload, keyed by its hash (stands in for the lake)."""

    name = "rows"

    def run(self, upload: Upload, earlier: object) -> dict[str, object]:
        upload.stage_row("instances", {"sha256": upload.sha256})
        return {}


class GatedPublisher(RecordingPublisher):
    """Holds the first publish until ``others`` uploads queue behind it."""

    def __init__(self, others: int) -> None:
        super().__init__()
        self.others = others
        self.pipeline: IngestPipeline | None = None

    def publish(self, outcomes: Sequence[Outcome]) -> None:
        if self.requests == 0:
            assert self.pipeline is not None
            deadline = time.monotonic() + 30
            while self.pipeline.closing.queued < self.others:
                assert time.monotonic() < deadline, "the other uploads never queued"
                time.sleep(0.005)
        super().publish(outcomes)


def test_uploads_finishing_together_share_one_publish_and_one_row_write(
    blob_service: BlobServiceClient,
) -> None:
    publisher = GatedPublisher(others=3)
    row_writes: list[list[str]] = []
    pipeline = make_pipeline(
        blob_service,
        publisher,
        stages=[RowStage()],
        row_stager=lambda rows: row_writes.append([r["sha256"] for _, r in rows]),
    )
    publisher.pipeline = pipeline
    corpus = [
        ct_instance(SyntheticPatient(42), 1, 1, n, rows=32, columns=32)
        for n in range(1, 5)
    ]
    events = [upload(blob_service, f"group/{n}.dcm", d) for n, d in enumerate(corpus)]

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(pipeline.handle, events))

    assert [r.status for r in results] == [IngestStatus.ACCEPTED] * 4
    assert publisher.requests == 2
    assert sorted(len(write) for write in row_writes) == [1, 3]
    assert sorted(h for write in row_writes for h in write) == sorted(
        hashlib.sha256(d).hexdigest() for d in corpus
    )
    assert len({o.event_id for o in publisher.outcomes}) == 4
    assert names(blob_service, INCOMING) == []
    assert len(names(blob_service, RAW)) == 4


def test_failed_row_write_keeps_the_upload_and_the_retry_completes(
    blob_service: BlobServiceClient, publisher: RecordingPublisher, valid: bytes
) -> None:
    attempts: list[int] = []

    def flaky_stager(rows: Sequence[tuple[str, Mapping[str, Any]]]) -> None:
        attempts.append(len(rows))
        if len(attempts) == 1:
            raise TransientError("staging refused")

    pipeline = make_pipeline(
        blob_service, publisher, stages=[RowStage()], row_stager=flaky_stager
    )
    event = upload(blob_service, "flaky.dcm", valid)

    with pytest.raises(TransientError, match="staging refused"):
        pipeline.handle(event)
    assert names(blob_service, INCOMING) == ["flaky.dcm"]

    assert pipeline.handle(event).status is IngestStatus.ACCEPTED
    assert attempts == [1, 1]
    assert names(blob_service, INCOMING) == []
    # The outcome may have gone out with the failed attempt; its id repeats.
    assert len({o.event_id for o in publisher.outcomes}) == 1


def test_rows_without_a_row_stager_are_a_configuration_error(
    blob_service: BlobServiceClient, publisher: RecordingPublisher, valid: bytes
) -> None:
    pipeline = make_pipeline(blob_service, publisher, stages=[RowStage()])
    event = upload(blob_service, "nostager.dcm", valid)

    with pytest.raises(ConfigurationError, match="no row stager"):
        pipeline.handle(event)
    assert names(blob_service, INCOMING) == ["nostager.dcm"]
