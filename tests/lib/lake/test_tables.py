"""Table contents and shape: identifiers, schema evolution, maintenance."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime

import duckdb
import pyarrow as pa
import pytest
from azure.storage.blob import BlobServiceClient

from lib.errors import ConfigurationError
from lib.ingest import IngestPipeline
from lib.lake import TABLES, LakeCommitter, LakeLocation, LakeSettings, LakeStage
from lib.lake.maintenance import maintain
from lib.lake.staging import Stager
from lib.samples import SyntheticPatient
from lib.samples.synthetic import synthetic_uid
from tests.lib.lake.conftest import ingest, instance, read, upload
from tests.support.malformed import (
    MALFORMED,
    PLANTED_PATIENT_ID,
    PLANTED_PATIENT_NAME,
    PLANTED_SERIES_INSTANCE_UID,
    PLANTED_SOP_INSTANCE_UID,
    PLANTED_STUDY_INSTANCE_UID,
    VALID,
)


def every_value(committer: LakeCommitter) -> str:
    rows = {name: read(committer, name).to_pylist() for name in TABLES}
    return json.dumps(rows, default=str)


def test_no_planted_identifier_appears_in_any_table(
    pipeline: IngestPipeline, blob_service: BlobServiceClient, committer: LakeCommitter
) -> None:
    patients = [SyntheticPatient(n) for n in (31, 32)]
    for patient in patients:
        for number in (1, 2):
            ingest(pipeline, blob_service, instance(patient.number, 1, 1, number))
    ingest(pipeline, blob_service, VALID["valid_ct"]())  # planted identifiers
    for name in ("missing_sop_instance_uid", "plain_text_file"):
        ingest(pipeline, blob_service, MALFORMED[name][0]())
    committer.commit()

    text = every_value(committer)

    assert read(committer, "instances").num_rows == 5
    assert read(committer, "rejections").num_rows == 2
    planted = [
        PLANTED_PATIENT_NAME,
        PLANTED_PATIENT_ID,
        PLANTED_STUDY_INSTANCE_UID,
        PLANTED_SERIES_INSTANCE_UID,
        PLANTED_SOP_INSTANCE_UID,
        "LEAKCHECK",
    ]
    for patient in patients:
        planted += [patient.patient_name, patient.patient_id, "SYNTHETIC"]
        planted += [
            synthetic_uid("study", patient.number, 1),
            synthetic_uid("series", patient.number, 1, 1),
            synthetic_uid("sop", patient.number, 1, 1, 1),
            synthetic_uid("sop", patient.number, 1, 1, 2),
        ]
    leaked = [value for value in planted if value in text]
    assert leaked == []


def test_new_column_evolves_the_table_and_readers_still_read_it(
    pipeline: IngestPipeline,
    blob_service: BlobServiceClient,
    committer: LakeCommitter,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ingest(pipeline, blob_service, instance(41, number=1))
    committer.commit()
    base = TABLES["instances"]
    evolved = dataclasses.replace(
        base, schema=base.schema.append(pa.field("gpu_ms", pa.int64()))
    )
    monkeypatch.setitem(TABLES, "instances", evolved)
    row = {
        name: value
        for name, value in read(committer, "instances").to_pylist()[0].items()
        if name != "committed_time"
    }
    row.update(sop_instance_uid="2.25.1234", gpu_ms=17)
    Stager(blob_service).stage("instances", row)

    committer.commit()

    table = committer.table("instances")
    assert "gpu_ms" in table.schema().to_arrow().names
    connection = duckdb.connect()
    connection.register("instances", table.to_pyarrow_dataset())
    [result] = connection.execute(
        "SELECT count(*), count(gpu_ms), sum(gpu_ms) FROM instances"
    ).fetchall()
    assert result == (2, 1, 17)


def test_maintenance_compacts_without_changing_rows(
    pipeline: IngestPipeline,
    blob_service: BlobServiceClient,
    committer: LakeCommitter,
    location: LakeLocation,
) -> None:
    for number in (1, 2, 3):
        ingest(pipeline, blob_service, instance(51, number=number))
        committer.commit()
    before = committer.table("instances")
    assert len(before.file_uris()) == 3

    result = maintain(blob_service, location, LakeSettings(vacuum_retention_hours=1))

    after = committer.table("instances")
    assert result.files_removed["instances"] == 3
    assert len(after.file_uris()) == 1
    assert after.to_pyarrow_table().num_rows == 3
    assert result.files_vacuumed["instances"] == 0  # younger than the retention


def test_rejected_upload_row_follows_the_event_day(
    pipeline: IngestPipeline, blob_service: BlobServiceClient, committer: LakeCommitter
) -> None:
    make, code = MALFORMED["empty_file"]
    event_time = datetime(2026, 1, 2, 23, 59, tzinfo=UTC)
    pipeline.handle(upload(blob_service, make(), event_time=event_time))
    committer.commit()

    [row] = read(committer, "rejections").to_pylist()

    assert row["code"] == code
    assert row["rejected_date"].isoformat() == "2026-01-02"
    assert row["keyword"] is None


def test_lake_stage_without_deid_names_the_missing_stage() -> None:
    stage = LakeStage()

    with pytest.raises(ConfigurationError, match="needs the deid stage"):
        stage.run(None, {})  # type: ignore[arg-type]
