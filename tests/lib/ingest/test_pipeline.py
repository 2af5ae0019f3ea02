"""The ingest flow in-process, against Azurite (no dev host)."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest
from azure.storage.blob import BlobServiceClient

from lib.events import INSTANCE_ACCEPTED, INSTANCE_REJECTED, BlobCreated, Outcome
from lib.ingest import FaultInjector, IngestPipeline, IngestStatus, InjectedFault
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
