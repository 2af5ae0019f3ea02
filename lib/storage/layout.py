"""Container names and blob layouts: a public interface (see docs/storage.md).

Every name here is deterministic in its inputs so that a redelivered or replayed
event writes to the same place and changes nothing.
"""

from __future__ import annotations

import re
from datetime import datetime

INCOMING = "incoming"
RAW = "raw"
QUARANTINE = "quarantine"
DEID = "deid"
LAKE = "lake"
DEADLETTER = "deadletter"
ALL_CONTAINERS = (INCOMING, RAW, QUARANTINE, DEID, LAKE, DEADLETTER)

_SHA256 = re.compile(r"[0-9a-f]{64}")
_UID = re.compile(r"[0-9]+(\.[0-9]+)*")


def _require_sha256(sha256: str) -> None:
    if not _SHA256.fullmatch(sha256):
        raise ValueError("sha256 must be 64 lowercase hex digits")


def raw_blob_name(sha256: str) -> str:
    """``sha256/{first two hex}/{sha256}.dcm``: content-addressed, write-once."""
    _require_sha256(sha256)
    return f"sha256/{sha256[:2]}/{sha256}.dcm"


def quarantine_blob_names(sha256: str, day: datetime) -> tuple[str, str]:
    """The original's and the reason record's names, ``{yyyy}/{mm}/{dd}/{sha256}``.

    ``day`` is the event time of the upload, which a redelivery repeats, so the
    same event always lands on the same names.
    """
    _require_sha256(sha256)
    prefix = f"{day:%Y/%m/%d}/{sha256}"
    return f"{prefix}.dcm", f"{prefix}.json"


def deid_blob_name(
    study_instance_uid: str, series_instance_uid: str, sop_instance_uid: str
) -> str:
    """``studies/{study}/series/{series}/instances/{sop}.dcm`` (new UIDs)."""
    for keyword, uid in (
        ("StudyInstanceUID", study_instance_uid),
        ("SeriesInstanceUID", series_instance_uid),
        ("SOPInstanceUID", sop_instance_uid),
    ):
        if not _UID.fullmatch(uid):
            raise ValueError(f"{keyword} is not a valid UID for a blob name")
    return (
        f"studies/{study_instance_uid}/series/{series_instance_uid}"
        f"/instances/{sop_instance_uid}.dcm"
    )


def deadletter_blob_name(event_id: str, event_time: datetime) -> str:
    """One JSON document per dead-lettered event, by day and event id."""
    safe_id = re.sub(r"[^A-Za-z0-9._-]", "_", event_id)
    return f"{event_time:%Y/%m/%d}/{safe_id}.json"
