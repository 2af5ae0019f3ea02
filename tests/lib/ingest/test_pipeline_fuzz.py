"""Mutated DICOM through the real pipeline: each input ends in raw XOR quarantine."""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime

from azure.storage.blob import BlobServiceClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lib.events import BlobCreated
from lib.ingest import IngestPipeline, IngestStatus
from lib.samples import SyntheticPatient, ct_instance
from lib.storage import INCOMING, QUARANTINE, RAW, raw_blob_name
from lib.validation import Policy
from tests.lib.ingest.test_pipeline import RecordingPublisher

SEED = ct_instance(SyntheticPatient(5), 1, 1, 1, rows=16, columns=16)


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(SEED)
    for _ in range(draw(st.integers(1, 6))):
        kind = draw(st.sampled_from(["flip", "truncate", "insert", "delete"]))
        at = draw(st.integers(0, max(0, len(data) - 1)))
        if kind == "flip" and data:
            data[at] ^= draw(st.integers(1, 255))
        elif kind == "truncate":
            del data[at:]
        elif kind == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=16))
        elif kind == "delete":
            del data[at : at + draw(st.integers(1, 64))]
    return bytes(data)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(data=mutated())
def test_every_mutated_upload_ends_in_exactly_one_place(
    blob_service: BlobServiceClient, data: bytes
) -> None:
    name = f"fuzz/{uuid.uuid4()}.dcm"
    props = blob_service.get_blob_client(INCOMING, name).upload_blob(data)
    event = BlobCreated(
        event_id=str(uuid.uuid4()),
        event_time=datetime.now(UTC),
        container=INCOMING,
        blob_name=name,
        etag=str(props["etag"]),
        content_length=len(data),
    )
    pipeline = IngestPipeline(
        blob_service,
        policy=Policy.from_setting(""),
        publisher=RecordingPublisher(),
        max_upload_bytes=2**31,
        spool_threshold_bytes=2**20,
    )

    result = pipeline.handle(event)

    sha = hashlib.sha256(data).hexdigest()
    in_raw = blob_service.get_blob_client(RAW, raw_blob_name(sha)).exists()
    day = f"{event.event_time:%Y/%m/%d}"
    in_quarantine = blob_service.get_blob_client(
        QUARANTINE, f"{day}/{sha}.dcm"
    ).exists()
    assert result.status in (IngestStatus.ACCEPTED, IngestStatus.REJECTED)
    assert in_raw != in_quarantine
    assert (result.status is IngestStatus.ACCEPTED) == in_raw
    assert not blob_service.get_blob_client(INCOMING, name).exists()
