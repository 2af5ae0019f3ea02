"""The lake: rows staged and committed per second, commit latency, 2 writers.

Measured on a private Azurite with synthetic ``instances`` rows (the corpus only
sets how many: the lake's cost does not depend on pixel data):

- staged/s: two writer threads stage rows (one write-once blob each), against
  two threads uploading blobs of the same size with no condition;
- committed/s: one commit run folds every staged row into the tables (list,
  read, MERGE, derive series/studies, delete), against a bare
  ``write_deltalake`` append of the same rows;
- commit latency: one commit run over a minute's worth of rows at a million
  instances a day (700), against the bare append of those rows; lower is
  better, so the ratio is baseline / value.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
from azure.storage.blob import BlobServiceClient
from deltalake import write_deltalake

from bench.cases import result
from lib.lake import LakeCommitter, LakeLocation, LakeSettings
from lib.lake.schemas import INSTANCES
from lib.lake.staging import Stager
from lib.settings import Settings
from lib.storage import LAKE, ensure_containers
from tests.support.azurite import running_azurite

WRITERS = 2
MINUTE_AT_A_MILLION_A_DAY = 700
MIN_ROWS = 1000
STAGED_ROW_BYTES = 900  # a staged instances row is about 0.9 KB of JSON


def _rows(count: int, offset: int) -> list[dict[str, Any]]:
    now = datetime.now(UTC)
    rows = []
    for number in range(offset, offset + count):
        study = number // 50
        rows.append(
            {
                "sop_instance_uid": f"2.25.{10**12 + number}",
                "series_instance_uid": f"2.25.{10**9 + number // 10}",
                "study_instance_uid": f"2.25.{10**6 + study}",
                "patient_id": f"P{study:08d}",
                "sop_class_uid": "1.2.840.10008.5.1.4.1.1.2",
                "modality": "CT",
                "rows": 512,
                "columns": 512,
                "transfer_syntax_uid": "1.2.840.10008.1.2.1",
                "study_date": date(2026, 1, 1),
                "bytes_in": 526_000,
                "bytes_out": 525_000,
                "deid_profile": "research",
                "key_version": "bench",
                "ingest_time": now - timedelta(seconds=2),
                "processed_time": now,
                "pipeline_ms": 2000,
                "ingest_date": now.date(),
            }
        )
    return rows


def _parallel(work: list[Any], task: Any) -> float:
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=WRITERS) as pool:
        list(pool.map(task, work))
    return time.perf_counter() - started


def _stage(connection_string: str, rows: list[dict[str, Any]]) -> tuple[float, float]:
    """(seconds to stage ``rows`` with 2 writers, seconds for plain uploads)."""
    halves = [rows[0::2], rows[1::2]]

    def stage(part: list[dict[str, Any]]) -> None:
        stager = Stager(BlobServiceClient.from_connection_string(connection_string))
        for row in part:
            stager.stage("instances", row)

    staged = _parallel(halves, stage)

    payload = b"x" * STAGED_ROW_BYTES

    def upload(part: list[dict[str, Any]]) -> None:
        client = BlobServiceClient.from_connection_string(
            connection_string
        ).get_container_client(LAKE)
        for row in part:
            client.upload_blob(f"baseline/{row['sop_instance_uid']}", payload)

    baseline = _parallel(halves, upload)
    return staged, baseline


def _append_seconds(
    location: LakeLocation, rows: list[dict[str, Any]], name: str
) -> float:
    table = pa.Table.from_pylist(rows, schema=INSTANCES.schema)
    started = time.perf_counter()
    write_deltalake(
        f"az://{LAKE}/baseline/{name}",
        table,
        mode="append",
        partition_by=list(INSTANCES.partition_by),
        storage_options=location.storage_options(),
    )
    return time.perf_counter() - started


def run(corpus: list[Path], workdir: Path) -> list[dict[str, Any]]:
    count = max(len(corpus), MIN_ROWS)
    with running_azurite() as connection_string:
        service = BlobServiceClient.from_connection_string(connection_string)
        ensure_containers(service)
        location = LakeLocation(Settings(storage_connection_string=connection_string))
        committer = LakeCommitter(service, location, LakeSettings())
        committer.ensure_tables()

        rows = _rows(count, 0)
        staged_s, upload_s = _stage(connection_string, rows)
        started = time.perf_counter()
        committed = committer.commit()
        commit_s = time.perf_counter() - started
        assert committed.inserted["instances"] == count, "bench commit lost rows"
        append_s = _append_seconds(location, rows, "all")

        minute = _rows(MINUTE_AT_A_MILLION_A_DAY, count)
        _stage(connection_string, minute)
        started = time.perf_counter()
        committer.commit()
        latency_s = time.perf_counter() - started
        minute_append_s = _append_seconds(location, minute, "minute")

    return [
        result(
            "lake",
            "rows staged/s (2 writers)",
            value=count / staged_s,
            unit="rows/s",
            baseline_name="plain blob uploads of the same size, 2 writers",
            baseline_value=count / upload_s,
            ratio=upload_s / staged_s,
        ),
        result(
            "lake",
            "rows committed/s",
            value=count / commit_s,
            unit="rows/s",
            baseline_name="write_deltalake append of the same rows",
            baseline_value=count / append_s,
            ratio=append_s / commit_s,
        ),
        result(
            "lake",
            f"commit latency ({MINUTE_AT_A_MILLION_A_DAY} rows)",
            value=latency_s,
            unit="s",
            baseline_name=(
                "write_deltalake append of the same rows (ratio: baseline/value)"
            ),
            baseline_value=minute_append_s,
            ratio=minute_append_s / latency_s,
        ),
    ]
