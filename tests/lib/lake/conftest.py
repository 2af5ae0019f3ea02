"""Fixtures for the lake tests: the real ingest pipeline and committer on Azurite."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import pyarrow as pa
import pytest
from azure.storage.blob import BlobServiceClient

from lib.composition import build_pipeline
from lib.events import BlobCreated
from lib.ingest import IngestPipeline
from lib.ingest.pipeline import IngestResult
from lib.lake import LakeCommitter, LakeLocation, LakeSettings
from lib.lake.staging import staged_rows
from lib.samples import SyntheticPatient, ct_instance
from lib.settings import Settings
from lib.storage import INCOMING, LAKE

DEID_KEY = "5a" * 32


@pytest.fixture
def lake_env(azurite_connection_string: str) -> dict[str, str]:
    return {
        "MEDLAKE_STORAGE_CONNECTION": azurite_connection_string,
        "MEDLAKE_DEID_KEY": DEID_KEY,
        "MEDLAKE_DEID_KEY_VERSION": "test-1",
    }


@pytest.fixture
def pipeline(
    blob_service: BlobServiceClient, lake_env: dict[str, str]
) -> IngestPipeline:
    return build_pipeline(lake_env)


@pytest.fixture
def location(settings: Settings) -> LakeLocation:
    return LakeLocation(settings)


@pytest.fixture
def committer(blob_service: BlobServiceClient, location: LakeLocation) -> LakeCommitter:
    return LakeCommitter(blob_service, location, LakeSettings())


def instance(patient: int, study: int = 1, series: int = 1, number: int = 1) -> bytes:
    return ct_instance(
        SyntheticPatient(patient), study, series, number, rows=16, columns=16
    )


def upload(
    service: BlobServiceClient,
    data: bytes,
    *,
    name: str | None = None,
    event_time: datetime | None = None,
) -> BlobCreated:
    name = name or f"uploads/{uuid.uuid4()}.dcm"
    props = service.get_blob_client(INCOMING, name).upload_blob(data, overwrite=True)
    return BlobCreated(
        event_id=str(uuid.uuid4()),
        event_time=event_time or datetime.now(UTC),
        container=INCOMING,
        blob_name=name,
        etag=str(props["etag"]).strip('"'),
        content_length=len(data),
    )


def ingest(
    pipeline: IngestPipeline, service: BlobServiceClient, data: bytes
) -> IngestResult:
    return pipeline.handle(upload(service, data))


def read(committer: LakeCommitter, table: str) -> pa.Table:
    return committer.table(table).to_pyarrow_table()


def staged(service: BlobServiceClient) -> list[str]:
    container = service.get_container_client(LAKE)
    return sorted(b.name for b in container.list_blobs(name_starts_with="staging/"))


def staged_row_count(service: BlobServiceClient) -> int:
    """Rows staged, counting every row of a grouped blob (several uploads
    closed together stage their rows in one blob)."""
    container = service.get_container_client(LAKE)
    return sum(
        len(list(staged_rows(json.loads(container.download_blob(name).readall()))))
        for name in staged(service)
    )
