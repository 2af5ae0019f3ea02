"""The lake's seams in the ingest pipeline: a stage and a rejection sink.

Both only hand rows to the upload (:meth:`lib.ingest.Upload.stage_row`); the
pipeline stages them, grouped with the rows of uploads that finish at the same
time, before the upload leaves ``incoming``, and the commit timer puts them in
the tables. A failure retries the event; a redelivery stages the same natural
keys again, which the commit merges into one row.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Any

from lib.errors import ConfigurationError
from lib.ingest import Upload
from lib.lake.schemas import INSTANCES, REJECTIONS
from lib.lake.staging import check_row
from lib.validation import Finding

__all__ = [
    "LakeRejectionSink",
    "LakeStage",
    "instance_row",
    "rejection_row",
]

DEID_STAGE = "deid"


def _dicom_date(value: object) -> date | None:
    """A DA value (``YYYYMMDD``) as a date; None when absent or not a full date."""
    if not isinstance(value, str) or len(value) != 8 or not value.isdigit():
        return None
    try:
        return date(int(value[:4]), int(value[4:6]), int(value[6:]))
    except ValueError:
        return None


def _int_or_none(value: object) -> int | None:
    try:
        return int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return None


def _ms_or_none(value: object) -> int | None:
    if isinstance(value, int | float):
        return max(0, round(value))
    return None


def _str_or_none(value: object) -> str | None:
    return str(value) if value not in (None, "") else None


def instance_row(
    upload: Upload,
    deid: Mapping[str, Any],
    processed_time: datetime,
    validation: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The ``instances`` row of one de-identified upload.

    Every identifier comes from ``deid`` (new UIDs, pseudonymous patient ID); the
    upload contributes its event time, size and warning codes only.
    """
    summary: Mapping[str, Any] = deid.get("summary") or {}
    ingest_time = upload.event.event_time.astimezone(UTC)
    warnings = sorted({f.code for f in upload.report.findings})
    return {
        "sop_instance_uid": deid["sopInstanceUID"],
        "series_instance_uid": deid["seriesInstanceUID"],
        "study_instance_uid": deid["studyInstanceUID"],
        "patient_id": _str_or_none(deid.get("patientId")),
        "sop_class_uid": _str_or_none(deid.get("sopClassUID")),
        "modality": _str_or_none(summary.get("modality")),
        "body_part_examined": _str_or_none(summary.get("body_part_examined")),
        "rows": _int_or_none(summary.get("rows")),
        "columns": _int_or_none(summary.get("columns")),
        "number_of_frames": _int_or_none(summary.get("number_of_frames")),
        "transfer_syntax_uid": _str_or_none(summary.get("transfer_syntax_uid")),
        "study_date": _dicom_date(summary.get("study_date")),
        "bytes_in": _int_or_none(summary.get("bytes_in")) or upload.size,
        "bytes_out": _int_or_none(summary.get("bytes_out")),
        "deid_profile": _str_or_none(deid.get("profile")),
        "key_version": _str_or_none(deid.get("keyVersion")),
        "warning_codes": ",".join(warnings) or None,
        "ingest_time": ingest_time,
        "processed_time": processed_time,
        "pipeline_ms": max(
            0, round((processed_time - ingest_time).total_seconds() * 1000)
        ),
        "validate_ms": _ms_or_none((validation or {}).get("elapsed_ms")),
        "deid_ms": _ms_or_none(deid.get("elapsed_ms")),
        "ingest_date": ingest_time.date(),
    }


def rejection_row(
    upload: Upload, finding: Finding, rejected_time: datetime
) -> dict[str, Any]:
    """The ``rejections`` row of one quarantined upload: codes, never values.

    The date is the event time's, like the quarantine record's folder, so a
    redelivery (same event time) stages the same key.
    """
    ingest_time = upload.event.event_time.astimezone(UTC)
    return {
        "sha256": upload.sha256,
        "code": finding.code,
        "check": finding.check,
        "keyword": finding.keyword,
        "size_bytes": upload.size,
        "ingest_time": ingest_time,
        "rejected_time": rejected_time,
        "rejected_date": ingest_time.date(),
    }


class LakeStage:
    """Stage the ``instances`` row of each de-identified upload."""

    name = "lake"

    def run(
        self, upload: Upload, earlier: Mapping[str, Mapping[str, Any]]
    ) -> Mapping[str, Any]:
        """Hand the row to the upload; return the table it goes to.

        Raises
        ------
        ConfigurationError
            The de-identification stage did not run before this one.
        ValueError
            The row has no usable natural key (a bug in the deid stage).
        """
        deid = earlier.get(DEID_STAGE)
        if deid is None:
            raise ConfigurationError(
                "the lake stage needs the deid stage before it (lib/composition.py)"
            )
        row = instance_row(upload, deid, datetime.now(UTC), earlier.get("validation"))
        check_row(INSTANCES.name, row)
        upload.stage_row(INSTANCES.name, row)
        return {"staged": INSTANCES.name}


class LakeRejectionSink:
    """Stage the ``rejections`` row of each quarantined upload."""

    def record(self, upload: Upload, finding: Finding, location: str) -> None:
        """Hand the row to the upload (``location`` is not stored: it repeats
        the hash)."""
        row = rejection_row(upload, finding, _now())
        check_row(REJECTIONS.name, row)
        upload.stage_row(REJECTIONS.name, row)


def _now() -> datetime:
    return datetime.now(UTC)
