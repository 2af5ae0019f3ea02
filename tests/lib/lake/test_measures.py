"""The Power BI measures, computed with DuckDB over tables the pipeline wrote.

The SQL below restates each DAX measure of ``powerbi/``; the expected figures
come from what the test put in, and :func:`lib.lake.summary.analytics_summary`
(what ``medlake report`` and the HTTP summary show) must agree with both.
"""

from __future__ import annotations

import statistics
from datetime import UTC, date, datetime

import duckdb
import pytest
from azure.storage.blob import BlobServiceClient

from lib.ingest import IngestPipeline
from lib.lake import LakeCommitter, LakeLocation
from lib.lake.staging import Stager
from lib.lake.summary import analytics_summary
from tests.lib.lake.conftest import instance, read, upload
from tests.support.malformed import MALFORMED

DAY_1 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
DAY_2 = datetime(2026, 11, 3, 9, 0, tzinfo=UTC)
EMPTY = MALFORMED["empty_file"]
NOT_DICOM = MALFORMED["plain_text_file"]


@pytest.fixture
def lake(
    pipeline: IngestPipeline, blob_service: BlobServiceClient, committer: LakeCommitter
) -> duckdb.DuckDBPyConnection:
    """Five CT instances in two studies on two days, one MR row, three rejections,
    findings of two models."""
    for number in (1, 2, 3, 4):
        series = 1 + number % 2
        data = instance(61, 1, series, number)
        pipeline.handle(upload(blob_service, data, event_time=DAY_1))
    pipeline.handle(upload(blob_service, instance(62), event_time=DAY_2))
    pipeline.handle(upload(blob_service, EMPTY[0](), event_time=DAY_1))
    pipeline.handle(upload(blob_service, NOT_DICOM[0](), event_time=DAY_1))
    pipeline.handle(upload(blob_service, NOT_DICOM[0]() + b"x", event_time=DAY_2))
    committer.commit()

    stager = Stager(blob_service)
    ct = read(committer, "instances").sort_by("sop_instance_uid").to_pylist()
    mr = dict(ct[0], sop_instance_uid="2.25.4242000001", modality="MR")
    mr.pop("committed_time")
    stager.stage("instances", mr)
    findings = [("nodule", ct[0], "a"), ("nodule", ct[0], "b"), ("nodule", ct[1], "a")]
    findings += [("bleed", ct[2], "a"), ("bleed", mr, "a")]
    for number, (model, row, label) in enumerate(findings):
        stager.stage(
            "findings",
            {
                "finding_id": f"f{number:04d}",
                "model_name": model,
                "model_version": "1.0",
                "model_checksum": "0" * 64,
                "sop_instance_uid": row["sop_instance_uid"],
                "series_instance_uid": row["series_instance_uid"],
                "study_instance_uid": row["study_instance_uid"],
                "label": label,
                "score": 0.9,
                "finding_time": DAY_2,
                "finding_date": DAY_2.date(),
            },
        )
    committer.commit()

    connection = duckdb.connect()
    for name in ("instances", "studies", "rejections", "findings"):
        connection.register(name, committer.table(name).to_pyarrow_dataset())
    return connection


def rows(connection: duckdb.DuckDBPyConnection, sql: str) -> list[tuple[object, ...]]:
    return connection.execute(sql).fetchall()


def test_measures_in_duckdb_match_the_input_and_the_summary(
    lake: duckdb.DuckDBPyConnection, location: LakeLocation
) -> None:
    summary = analytics_summary(location)

    # Studies per day: COUNTROWS(studies) by studies[first_ingest_date].
    per_day = rows(
        lake,
        "SELECT first_ingest_date, count(*) FROM studies GROUP BY 1 ORDER BY 1",
    )
    assert per_day == [(date(2026, 11, 2), 1), (date(2026, 11, 3), 1)]
    assert summary.studies_per_day == [
        {"date": day.isoformat(), "studies": count} for day, count in per_day
    ]

    # Rejection rate by code: rejections of the code / (instances + rejections).
    by_code = dict(
        rows(
            lake,
            "SELECT code, count(*) / ((SELECT count(*) FROM instances) "
            "+ (SELECT count(*) FROM rejections)) FROM rejections GROUP BY code",
        )
    )
    expected_by_code = {EMPTY[1]: 1 / 9, NOT_DICOM[1]: 2 / 9}
    assert by_code == pytest.approx(expected_by_code)
    assert summary.rejection_rate_by_code == pytest.approx(expected_by_code)

    # Finding rate by model and modality: instances of the modality with a
    # finding of the model / instances of the modality.
    rates = rows(
        lake,
        "SELECT f.model_name, i.modality, count(DISTINCT f.sop_instance_uid) "
        "/ (SELECT count(*) FROM instances j WHERE j.modality = i.modality) "
        "FROM findings f JOIN instances i USING (sop_instance_uid) "
        "GROUP BY 1, 2 ORDER BY 1, 2",
    )
    expected_rates = {
        ("bleed", "CT"): 1 / 5,
        ("bleed", "MR"): 1.0,
        ("nodule", "CT"): 2 / 5,
    }
    assert {(m, x): rate for m, x, rate in rates} == pytest.approx(expected_rates)
    assert {
        (r["model"], r["modality"]): r["rate"]
        for r in summary.finding_rate_by_model_modality
    } == pytest.approx(expected_rates)

    # Latency p50 / p95: PERCENTILE.INC is DuckDB's quantile_cont.
    latencies = [value for (value,) in rows(lake, "SELECT pipeline_ms FROM instances")]
    [(p50, p95)] = rows(
        lake,
        "SELECT quantile_cont(pipeline_ms, 0.5), quantile_cont(pipeline_ms, 0.95) "
        "FROM instances",
    )
    cuts = statistics.quantiles(latencies, n=100, method="inclusive")
    assert (p50, p95) == pytest.approx((cuts[49], cuts[94]))
    assert (summary.latency_p50_ms, summary.latency_p95_ms) == pytest.approx((p50, p95))
    assert summary.counts == {
        "instances": 6,
        "series": 3,
        "studies": 2,
        "rejections": 3,
        "findings": 5,
    }
