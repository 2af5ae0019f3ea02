"""The lake's tables: columns, natural keys and partitions.

These schemas are the contract with analysts: ``docs/tables.md`` documents every
column and the Power BI model in ``powerbi/`` reads them (tests check both).
Adding a nullable column is safe (the commit evolves the table, old rows read as
null); renaming or retyping one is a breaking change for every report.

No column holds an identifying value: UIDs and the patient ID are the new,
pseudonymous ones from de-identification, dates are shifted as the profile says,
and rejections carry codes and keywords only.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

__all__ = [
    "AUDIT",
    "FINDINGS",
    "INSTANCES",
    "REJECTIONS",
    "SERIES",
    "STUDIES",
    "TABLES",
    "TableSpec",
]

TIMESTAMP = pa.timestamp("us", tz="UTC")


@dataclass(frozen=True)
class TableSpec:
    """One Delta table of the lake.

    Parameters
    ----------
    name : str
        Table name; its files live under ``lake/tables/{name}/``.
    schema : pyarrow.Schema
        Columns in order.
    keys : tuple of str
        The natural key: at most one row per key value ever reaches readers.
    partition_by : tuple of str
        Partition columns (a date, so queries over days prune files).
    replace_when : str
        SQL condition over ``s`` (staged row) and ``t`` (table row) under which
        a staged row replaces the row with its key; empty: rows are never
        replaced (the first commit wins, later ones are duplicates).
    staged : bool
        Whether rows arrive through staging (``series`` and ``studies`` are
        derived from ``instances`` instead).
    """

    name: str
    schema: pa.Schema
    keys: tuple[str, ...]
    partition_by: tuple[str, ...] = ()
    replace_when: str = ""
    staged: bool = True

    def __post_init__(self) -> None:
        missing = set(self.keys + self.partition_by) - set(self.schema.names)
        if missing:
            raise ValueError(f"table {self.name}: key or partition not in schema")

    @property
    def merge_predicate(self) -> str:
        """Match a staged row to the table row with the same natural key.

        The partition column joins the predicate only when it is part of the
        key, so that delta-rs can prune partitions without missing a duplicate
        that landed under another date.
        """
        return " AND ".join(f"t.{key} = s.{key}" for key in self.keys)


INSTANCES = TableSpec(
    name="instances",
    schema=pa.schema(
        [
            ("sop_instance_uid", pa.string()),
            ("series_instance_uid", pa.string()),
            ("study_instance_uid", pa.string()),
            ("patient_id", pa.string()),
            ("sop_class_uid", pa.string()),
            ("modality", pa.string()),
            ("body_part_examined", pa.string()),
            ("rows", pa.int32()),
            ("columns", pa.int32()),
            ("number_of_frames", pa.int32()),
            ("transfer_syntax_uid", pa.string()),
            ("study_date", pa.date32()),
            ("bytes_in", pa.int64()),
            ("bytes_out", pa.int64()),
            ("deid_profile", pa.string()),
            ("key_version", pa.string()),
            ("warning_codes", pa.string()),
            ("ingest_time", TIMESTAMP),
            ("processed_time", TIMESTAMP),
            ("pipeline_ms", pa.int64()),
            ("validate_ms", pa.int64()),
            ("deid_ms", pa.int64()),
            ("committed_time", TIMESTAMP),
            ("ingest_date", pa.date32()),
        ]
    ),
    keys=("sop_instance_uid",),
    partition_by=("ingest_date",),
    # Reprocessing under another profile or key version is a new processing
    # version of the same instance: it replaces the row, never adds one.
    replace_when="s.deid_profile <> t.deid_profile OR s.key_version <> t.key_version",
)

SERIES = TableSpec(
    name="series",
    schema=pa.schema(
        [
            ("series_instance_uid", pa.string()),
            ("study_instance_uid", pa.string()),
            ("patient_id", pa.string()),
            ("modality", pa.string()),
            ("body_part_examined", pa.string()),
            ("instance_count", pa.int64()),
            ("frame_count", pa.int64()),
            ("bytes_out", pa.int64()),
            ("first_ingest_time", TIMESTAMP),
            ("last_ingest_time", TIMESTAMP),
            ("updated_time", TIMESTAMP),
        ]
    ),
    keys=("series_instance_uid",),
    replace_when="true",
    staged=False,
)

STUDIES = TableSpec(
    name="studies",
    schema=pa.schema(
        [
            ("study_instance_uid", pa.string()),
            ("patient_id", pa.string()),
            ("study_date", pa.date32()),
            ("modalities", pa.string()),
            ("series_count", pa.int64()),
            ("instance_count", pa.int64()),
            ("bytes_out", pa.int64()),
            ("first_ingest_time", TIMESTAMP),
            ("last_ingest_time", TIMESTAMP),
            ("first_ingest_date", pa.date32()),
            ("updated_time", TIMESTAMP),
        ]
    ),
    keys=("study_instance_uid",),
    replace_when="true",
    staged=False,
)

FINDINGS = TableSpec(
    name="findings",
    schema=pa.schema(
        [
            ("finding_id", pa.string()),
            ("model_name", pa.string()),
            ("model_version", pa.string()),
            ("model_checksum", pa.string()),
            ("sop_instance_uid", pa.string()),
            ("series_instance_uid", pa.string()),
            ("study_instance_uid", pa.string()),
            ("label", pa.string()),
            ("score", pa.float64()),
            ("region", pa.string()),
            ("finding_time", TIMESTAMP),
            ("committed_time", TIMESTAMP),
            ("finding_date", pa.date32()),
        ]
    ),
    keys=("finding_id",),
    partition_by=("finding_date",),
)

REJECTIONS = TableSpec(
    name="rejections",
    schema=pa.schema(
        [
            ("sha256", pa.string()),
            ("code", pa.string()),
            ("check", pa.string()),
            ("keyword", pa.string()),
            ("size_bytes", pa.int64()),
            ("ingest_time", TIMESTAMP),
            ("rejected_time", TIMESTAMP),
            ("committed_time", TIMESTAMP),
            ("rejected_date", pa.date32()),
        ]
    ),
    # One row per quarantine record: quarantine names are the hash under the
    # day of the event time (docs/storage.md), and so is this key.
    keys=("rejected_date", "sha256"),
    partition_by=("rejected_date",),
)

AUDIT = TableSpec(
    name="audit",
    schema=pa.schema(
        [
            ("access_id", pa.string()),
            ("access_time", TIMESTAMP),
            ("principal_id", pa.string()),
            ("app_role", pa.string()),
            ("action", pa.string()),
            ("resource_type", pa.string()),
            ("study_instance_uid", pa.string()),
            ("status_code", pa.int32()),
            ("client_app", pa.string()),
            ("committed_time", TIMESTAMP),
            ("access_date", pa.date32()),
        ]
    ),
    keys=("access_id",),
    partition_by=("access_date",),
)

TABLES: dict[str, TableSpec] = {
    spec.name: spec
    for spec in (INSTANCES, SERIES, STUDIES, FINDINGS, REJECTIONS, AUDIT)
}
