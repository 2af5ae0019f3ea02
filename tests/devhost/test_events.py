"""Event shapes: schema mapping, BlobCreated and dead-letter documents."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from devhost.events import (
    EventFormatError,
    blob_created_event,
    dead_letter_document,
    normalize_events,
    validate_topic_events,
)


def test_maps_cloud_event_onto_event_grid_fields() -> None:
    cloud_event = {
        "specversion": "1.0",
        "id": "e-1",
        "source": "/src",
        "subject": "/s",
        "type": "T",
        "time": "2024-05-01T10:20:30Z",
        "data": {"a": 1},
        "dataversion": "2",
    }

    assert normalize_events(cloud_event) == [
        {
            "id": "e-1",
            "topic": "/src",
            "subject": "/s",
            "eventType": "T",
            "eventTime": "2024-05-01T10:20:30Z",
            "data": {"a": 1},
            "dataVersion": "2",
        }
    ]


def test_decodes_cloud_event_binary_data() -> None:
    cloud_event = {
        "specversion": "1.0",
        "id": "e-1",
        "source": "/src",
        "type": "T",
        "data_base64": "AAEC",
    }

    assert normalize_events([cloud_event])[0]["data"] == b"\x00\x01\x02"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ([{"id": "1", "eventType": "T", "eventTime": "yesterday"}], "not an ISO 8601"),
        ([{"id": "1"}], "'eventType' is missing"),
        (["text"], "event 0 is not a JSON object"),
        ([{"specversion": "1.0", "id": "1", "type": "T"}], "'source' is missing"),
    ],
    ids=["bad-time", "missing-type", "not-object", "cloud-event-without-source"],
)
def test_rejects_malformed_events(body: object, message: str) -> None:
    with pytest.raises(EventFormatError, match=message):
        normalize_events(body)


def test_topic_publish_needs_an_array_in_event_grid_schema() -> None:
    with pytest.raises(EventFormatError, match="must be a JSON array"):
        validate_topic_events({"id": "1"}, cloud_events=False)


def test_blob_created_event_encodes_url_and_strips_etag_quotes() -> None:
    event = blob_created_event(
        account="acct",
        container="incoming",
        container_url="http://127.0.0.1:10000/acct/incoming",
        name="a b/ü#1.dcm",
        etag='"0x8DC0FFEE"',
        last_modified=datetime(2024, 5, 1, 10, 20, 30, tzinfo=UTC),
        content_type="application/dicom",
        content_length=7,
    )

    assert (
        event["subject"]
        == "/blobServices/default/containers/incoming/blobs/a b/ü#1.dcm"
    )
    assert event["eventTime"] == "2024-05-01T10:20:30Z"
    assert event["data"]["url"] == (
        "http://127.0.0.1:10000/acct/incoming/a%20b/%C3%BC%231.dcm"
    )
    assert event["data"]["eTag"] == "0x8DC0FFEE"
    assert event["topic"].endswith("/storageAccounts/acct")


def test_sequencer_increases_between_events() -> None:
    def sequencer() -> str:
        return blob_created_event(
            account="a",
            container="c",
            container_url="http://x/c",
            name="n",
            etag="0x1",
            last_modified=datetime(2024, 1, 1, tzinfo=UTC),
            content_type="t",
            content_length=0,
        )["data"]["sequencer"]

    first, second = sequencer(), sequencer()

    assert first < second


def test_dead_letter_document_is_an_array_with_the_delivery_record() -> None:
    event = {"id": "e-1", "eventType": "T", "data": {}}

    [document] = dead_letter_document(
        event,
        attempts=5,
        error_type="TransientError",
        error_message="storage busy",
        publish_time=datetime(2024, 5, 1, tzinfo=UTC),
        last_attempt_time=datetime(2024, 5, 1, 0, 1, tzinfo=UTC),
    )

    assert document == {
        **event,
        "deadLetterReason": "MaxDeliveryAttemptsExceeded",
        "deliveryAttempts": 5,
        "lastDeliveryOutcome": "GenericError",
        "lastHttpStatusCode": 500,
        "lastErrorType": "TransientError",
        "lastErrorMessage": "storage busy",
        "publishTime": "2024-05-01T00:00:00Z",
        "lastDeliveryAttemptTime": "2024-05-01T00:01:00Z",
    }
