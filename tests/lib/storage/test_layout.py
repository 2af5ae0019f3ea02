from __future__ import annotations

from datetime import UTC, datetime

import pytest

from lib.storage import (
    deadletter_blob_name,
    deid_blob_name,
    quarantine_blob_names,
    raw_blob_name,
)

SHA = "ab" + "0" * 62


def test_raw_names_are_content_addressed() -> None:
    assert raw_blob_name(SHA) == f"sha256/ab/{SHA}.dcm"


def test_quarantine_names_follow_the_event_day() -> None:
    day = datetime(2026, 2, 3, 23, 59, tzinfo=UTC)

    assert quarantine_blob_names(SHA, day) == (
        f"2026/02/03/{SHA}.dcm",
        f"2026/02/03/{SHA}.json",
    )


@pytest.mark.parametrize("bad", ["", "AB" + "0" * 62, "ab", "../" + "0" * 61])
def test_rejects_anything_but_a_sha256(bad: str) -> None:
    with pytest.raises(ValueError, match="64 lowercase hex"):
        raw_blob_name(bad)


def test_deid_names_use_the_new_uids() -> None:
    assert deid_blob_name("2.25.1", "2.25.2", "2.25.3") == (
        "studies/2.25.1/series/2.25.2/instances/2.25.3.dcm"
    )


def test_deid_names_refuse_non_uids() -> None:
    with pytest.raises(ValueError, match="SeriesInstanceUID"):
        deid_blob_name("2.25.1", "../../etc", "2.25.3")


def test_deadletter_names_are_safe_paths() -> None:
    when = datetime(2026, 12, 3, tzinfo=UTC)

    assert deadletter_blob_name("a/b c", when) == "2026/12/03/a_b_c.json"
