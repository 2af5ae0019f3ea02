from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from lib.events import BLOB_CREATED, EventFormatError, parse_blob_created

SUBJECT = "/blobServices/default/containers/incoming/blobs/dir/DOE JOHN.dcm"
DATA = {
    "api": "PutBlob",
    "eTag": "0x8DC0FFEE",
    "contentLength": 1234,
    "blobType": "BlockBlob",
    "url": "http://127.0.0.1:10000/devstoreaccount1/incoming/dir/DOE%20JOHN.dcm",
}


def event_grid_schema(**overrides: Any) -> dict[str, Any]:
    event = {
        "id": "evt-1",
        "topic": "/subscriptions/0/resourceGroups/rg/providers/"
        "Microsoft.Storage/storageAccounts/acct",
        "subject": SUBJECT,
        "eventType": BLOB_CREATED,
        "eventTime": "2026-12-03T10:11:12.1234567Z",
        "data": dict(DATA),
        "dataVersion": "",
    }
    event.update(overrides)
    return event


def cloud_event(**overrides: Any) -> dict[str, Any]:
    event = {
        "specversion": "1.0",
        "id": "evt-1",
        "source": "/subscriptions/0/resourceGroups/rg/providers/"
        "Microsoft.Storage/storageAccounts/acct",
        "subject": SUBJECT,
        "type": BLOB_CREATED,
        "time": "2026-12-03T10:11:12.1234567Z",
        "data": dict(DATA),
    }
    event.update(overrides)
    return event


@pytest.mark.parametrize("make", [event_grid_schema, cloud_event], ids=["eg", "ce"])
def test_reads_both_schemas_alike(make: Any) -> None:
    parsed = parse_blob_created(make(), container="incoming")

    assert parsed is not None
    assert parsed.event_id == "evt-1"
    assert parsed.container == "incoming"
    assert parsed.blob_name == "dir/DOE JOHN.dcm"
    assert parsed.etag == "0x8DC0FFEE"
    assert parsed.content_length == 1234
    assert parsed.event_time == datetime(2026, 12, 3, 10, 11, 12, 123456, tzinfo=UTC)


def test_repr_hides_the_blob_name() -> None:
    parsed = parse_blob_created(event_grid_schema(), container="incoming")

    assert "DOE" not in repr(parsed)


@pytest.mark.parametrize(
    "event",
    [
        event_grid_schema(eventType="Microsoft.Storage.BlobDeleted"),
        cloud_event(type="Microsoft.Storage.BlobTierChanged"),
        event_grid_schema(
            subject="/blobServices/default/containers/raw/blobs/sha256/ab/x.dcm"
        ),
    ],
    ids=["other-type-eg", "other-type-ce", "other-container"],
)
def test_ignores_other_types_and_containers(event: dict[str, Any]) -> None:
    assert parse_blob_created(event, container="incoming") is None


@pytest.mark.parametrize(
    ("event", "message"),
    [
        (event_grid_schema(subject="/something/else"), "not a blob subject"),
        (event_grid_schema(id=""), "has no id"),
        (event_grid_schema(data={"api": "PutBlob"}), "has no eTag"),
        (event_grid_schema(data="nope"), "no data object"),
        (event_grid_schema(eventTime="yesterday"), "not an ISO 8601"),
        (event_grid_schema(eventTime=None), "no event time"),
    ],
    ids=["bad-subject", "no-id", "no-etag", "data-not-object", "bad-time", "no-time"],
)
def test_malformed_blob_created_is_an_error(
    event: dict[str, Any], message: str
) -> None:
    with pytest.raises(EventFormatError, match=message):
        parse_blob_created(event, container="incoming")
