"""The key measures of the lake, computed from the Delta tables.

The same definitions as the Power BI model's measures (``powerbi/``), so that
``medlake report``, ``GET /api/analytics/summary`` and a Power BI report agree:

- studies per day: studies by the day their first instance arrived;
- rejection rate (by code): quarantined uploads / (instances + quarantined);
- finding rate by model and modality: instances of a modality with at least one
  finding of the model / instances of that modality;
- processing latency p50 / p95: ``instances.pipeline_ms``, upload to staged row,
  linear interpolation between ranks (DAX ``PERCENTILE.INC``);
- freshness p50 / p95: upload to visible in the table (``committed_time``).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import pyarrow as pa
from deltalake import DeltaTable
from deltalake.exceptions import DeltaError, TableNotFoundError

from lib.errors import TransientError
from lib.lake.schemas import TABLES
from lib.lake.storage import LakeLocation

__all__ = ["AnalyticsSummary", "analytics_summary", "percentile"]


@dataclass(frozen=True)
class AnalyticsSummary:
    """Aggregates only: no UID, patient ID or hash appears here."""

    generated_time: str
    counts: dict[str, int]
    studies_per_day: list[dict[str, Any]] = field(default_factory=list)
    studies_per_day_average: float | None = None
    rejection_rate: float | None = None
    rejection_rate_by_code: dict[str, float] = field(default_factory=dict)
    finding_rate_by_model_modality: list[dict[str, Any]] = field(default_factory=list)
    instances_by_modality: dict[str, int] = field(default_factory=dict)
    latency_p50_ms: float | None = None
    latency_p95_ms: float | None = None
    freshness_p50_ms: float | None = None
    freshness_p95_ms: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dictionary."""
        return asdict(self)


def percentile(values: list[float], fraction: float) -> float | None:
    """The ``fraction`` percentile with linear interpolation (``PERCENTILE.INC``)."""
    if not values:
        return None
    ordered = sorted(values)
    position = (len(ordered) - 1) * fraction
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def _read(location: LakeLocation, name: str, columns: list[str]) -> pa.Table:
    spec = TABLES[name]
    try:
        table = DeltaTable(
            location.table_uri(name), storage_options=location.storage_options()
        )
        data = table.to_pyarrow_table(columns=columns)
    except TableNotFoundError:
        return spec.schema.empty_table().select(columns)
    except (DeltaError, OSError) as exc:
        raise TransientError(
            f"table {name}: reading failed ({type(exc).__name__})"
        ) from exc
    return pa.table(
        {name: data.column(name).to_pylist() for name in columns},
        schema=pa.schema(spec.schema.field(c) for c in columns),
    )


def _rate(numerator: int, denominator: int) -> float | None:
    return numerator / denominator if denominator else None


def analytics_summary(location: LakeLocation) -> AnalyticsSummary:
    """Compute every measure from the current versions of the tables.

    Raises
    ------
    TransientError
        A table could not be read.
    """
    instances = _read(
        location,
        "instances",
        [
            "sop_instance_uid",
            "modality",
            "pipeline_ms",
            "ingest_time",
            "committed_time",
        ],
    )
    studies = _read(location, "studies", ["first_ingest_date"])
    series = _read(location, "series", ["series_instance_uid"])
    rejections = _read(location, "rejections", ["code"])
    findings = _read(location, "findings", ["model_name", "sop_instance_uid"])

    # Studies per day.
    days: Counter[date] = Counter(studies.column("first_ingest_date").to_pylist())
    studies_per_day = [
        {"date": day.isoformat(), "studies": count}
        for day, count in sorted(days.items())
    ]

    # Rejection rate by code, over everything that arrived.
    arrived = instances.num_rows + rejections.num_rows
    by_code = Counter(rejections.column("code").to_pylist())
    rejection_rate_by_code = {
        code: count / arrived for code, count in sorted(by_code.items())
    }

    # Finding rate by model and modality.
    modality_of = dict(
        zip(
            instances.column("sop_instance_uid").to_pylist(),
            instances.column("modality").to_pylist(),
            strict=True,
        )
    )
    per_modality = Counter(modality_of.values())
    # One count per (model, instance), whatever the number of its findings.
    flagged_pairs = set(
        zip(
            findings.column("model_name").to_pylist(),
            findings.column("sop_instance_uid").to_pylist(),
            strict=True,
        )
    )
    flagged: Counter[tuple[str, str | None]] = Counter(
        (model, modality_of.get(sop)) for model, sop in flagged_pairs
    )
    finding_rates = [
        {
            "model": model,
            "modality": modality,
            "rate": _rate(flagged[(model, modality)], per_modality.get(modality, 0)),
        }
        for model, modality in sorted(flagged, key=str)
    ]

    # Latency and freshness.
    latency = [
        float(v) for v in instances.column("pipeline_ms").to_pylist() if v is not None
    ]
    freshness = [
        (committed - ingested).total_seconds() * 1000
        for ingested, committed in zip(
            instances.column("ingest_time").to_pylist(),
            instances.column("committed_time").to_pylist(),
            strict=True,
        )
        if ingested is not None and committed is not None
    ]

    return AnalyticsSummary(
        generated_time=datetime.now(UTC).isoformat(),
        counts={
            "instances": instances.num_rows,
            "series": series.num_rows,
            "studies": studies.num_rows,
            "rejections": rejections.num_rows,
            "findings": findings.num_rows,
        },
        studies_per_day=studies_per_day,
        studies_per_day_average=_rate(studies.num_rows, len(days)),
        rejection_rate=_rate(rejections.num_rows, arrived),
        rejection_rate_by_code=rejection_rate_by_code,
        finding_rate_by_model_modality=finding_rates,
        instances_by_modality={
            str(k): v for k, v in sorted(per_modality.items(), key=str)
        },
        latency_p50_ms=percentile(latency, 0.5),
        latency_p95_ms=percentile(latency, 0.95),
        freshness_p50_ms=percentile(freshness, 0.5),
        freshness_p95_ms=percentile(freshness, 0.95),
    )
