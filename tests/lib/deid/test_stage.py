"""The de-identification stage of the ingest pipeline, against Azurite."""

from __future__ import annotations

import io
import uuid
from datetime import UTC, datetime

import pydicom
import pytest
from azure.storage.blob import BlobServiceClient
from pydicom.uid import EncapsulatedPDFStorage

from lib.deid.stage import DeidStage
from lib.events import BlobCreated
from lib.ingest import StageRejection, Upload
from lib.samples import SyntheticPatient, ct_instance
from lib.storage import DEID, INCOMING, deid_blob_name
from lib.validation import validate
from tests.lib.deid.builders import base_dataset, deidentifier, to_part10


def upload_of(data: bytes) -> Upload:
    event = BlobCreated(
        event_id=str(uuid.uuid4()),
        event_time=datetime.now(UTC),
        container=INCOMING,
        blob_name="x.dcm",
        etag="0x1",
        content_length=len(data),
    )
    report = validate(io.BytesIO(data), size=len(data))
    return Upload(event, "0" * 64, len(data), io.BytesIO(data), report)


def deid_names(service: BlobServiceClient) -> list[str]:
    return [b.name for b in service.get_container_client(DEID).list_blobs()]


def test_writes_the_deidentified_instance_under_its_new_uids(
    blob_service: BlobServiceClient,
) -> None:
    data = ct_instance(SyntheticPatient(3), 1, 1, 1, rows=16, columns=16)
    stage = DeidStage(blob_service, deidentifier("research"))

    details = stage.run(upload_of(data), {})

    name = deid_blob_name(
        details["studyInstanceUID"],
        details["seriesInstanceUID"],
        details["sopInstanceUID"],
    )
    assert details["location"] == f"{DEID}/{name}"
    assert deid_names(blob_service) == [name]
    written = blob_service.get_blob_client(DEID, name).download_blob().readall()
    dataset = pydicom.dcmread(io.BytesIO(written))
    assert dataset.SOPInstanceUID == details["sopInstanceUID"]
    assert dataset.PatientIdentityRemoved == "YES"
    assert b"SYNTHETIC^PATIENT0003" not in written


def test_redelivery_rewrites_nothing(blob_service: BlobServiceClient) -> None:
    data = ct_instance(SyntheticPatient(4), 1, 1, 1, rows=16, columns=16)
    stage = DeidStage(blob_service, deidentifier("research"))

    first = stage.run(upload_of(data), {})
    etag = (
        blob_service.get_blob_client(DEID, first["location"].removeprefix("deid/"))
        .get_blob_properties()
        .etag
    )
    second = stage.run(upload_of(data), {})

    assert first == second
    assert (
        blob_service.get_blob_client(DEID, first["location"].removeprefix("deid/"))
        .get_blob_properties()
        .etag
        == etag
    )


def test_object_that_cannot_be_cleaned_becomes_a_rejection(
    blob_service: BlobServiceClient,
) -> None:
    ds = base_dataset()
    ds.SOPClassUID = EncapsulatedPDFStorage
    del ds.PixelData
    ds.EncapsulatedDocument = b"%PDF-1.4 report"
    stage = DeidStage(blob_service, deidentifier("research"))

    with pytest.raises(StageRejection) as caught:
        stage.run(upload_of(to_part10(ds)), {})

    assert caught.value.finding.code == "DEID_UNSUPPORTED_OBJECT"
    assert caught.value.finding.check == "deidentify"
    assert deid_names(blob_service) == []


def test_pieces_of_a_result_join_to_its_bytes() -> None:
    data = ct_instance(SyntheticPatient(5), 1, 1, 1, rows=64, columns=64)
    result = deidentifier("research").deidentify(data)

    pieces = list(result.iter_chunks(max_chunk=1000))

    assert b"".join(pieces) == result.data
    assert max(map(len, pieces)) <= 1000
    assert result.size == len(result.data)
