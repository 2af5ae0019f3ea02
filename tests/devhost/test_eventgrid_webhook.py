"""The Event Grid webhook ``/runtime/webhooks/eventgrid``, as Event Grid calls it."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from azure.storage.blob import BlobServiceClient

from tests.support.devhost import DevHost, HttpResult

WEBHOOK = "/runtime/webhooks/eventgrid"


def _post(
    host: DevHost,
    body: Any,
    *,
    function: str = "record_event",
    event_type: str | None = "Notification",
    content_type: str = "application/json",
    key: str | None = None,
) -> HttpResult:
    headers = {"Content-Type": content_type}
    if event_type:
        headers["aeg-event-type"] = event_type
    return host.request(
        "POST",
        WEBHOOK,
        params={"functionName": function, "code": key or host.eventgrid_key},
        headers=headers,
        body=json.dumps(body) if not isinstance(body, bytes) else body,
    )


def _event_grid_event(**overrides: Any) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "topic": "/subscriptions/x/resourceGroups/y/providers/Example/things/z",
        "subject": "/things/1",
        "eventType": "Example.Thing.Happened",
        "eventTime": "2024-05-01T10:20:30.1234567Z",
        "data": {"answer": 42},
        "dataVersion": "1.0",
        **overrides,
    }


def _cloud_event(**overrides: Any) -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "id": str(uuid.uuid4()),
        "source": "/example/source",
        "subject": "/things/2",
        "type": "Example.Thing.Happened",
        "time": "2024-05-01T10:20:30Z",
        "datacontenttype": "application/json",
        "data": {"answer": 43},
        "dataversion": "2.0",
        **overrides,
    }


def _recorded(blob_service: BlobServiceClient, event_id: str) -> dict[str, Any]:
    blob = blob_service.get_blob_client("probe", f"events/{event_id}.json")
    document: dict[str, Any] = json.loads(blob.download_blob().readall())
    return document


def test_answers_subscription_validation(sample_host: DevHost) -> None:
    validation = _event_grid_event(
        eventType="Microsoft.EventGrid.SubscriptionValidationEvent",
        data={"validationCode": "512d38b6-c7b8-40c8-89fe-f46f9e9622b6"},
    )

    response = _post(sample_host, [validation], event_type="SubscriptionValidation")

    assert response.status == 200
    assert response.json() == {
        "validationResponse": "512d38b6-c7b8-40c8-89fe-f46f9e9622b6"
    }


def test_answers_cloudevents_abuse_protection_handshake(sample_host: DevHost) -> None:
    response = sample_host.request(
        "OPTIONS",
        WEBHOOK,
        params={"functionName": "record_event", "code": sample_host.eventgrid_key},
        headers={"WebHook-Request-Origin": "eventgrid.azure.net"},
    )

    assert response.status == 200
    assert response.headers["webhook-allowed-origin"] == "eventgrid.azure.net"
    assert response.headers["webhook-allowed-rate"] == "*"


def test_delivers_event_grid_schema_batch(
    sample_host: DevHost, blob_service: BlobServiceClient
) -> None:
    events = [_event_grid_event(), _event_grid_event()]

    response = _post(sample_host, events)

    assert response.status == 200
    first = _recorded(blob_service, events[0]["id"])
    assert first["eventType"] == "Example.Thing.Happened"
    assert first["topic"] == events[0]["topic"]
    assert first["subject"] == "/things/1"
    assert first["data"] == {"answer": 42}
    assert first["dataVersion"] == "1.0"
    assert first["eventTime"] == "2024-05-01T10:20:30.123456+00:00"
    assert _recorded(blob_service, events[1]["id"])["id"] == events[1]["id"]


def test_delivers_single_cloud_event(
    sample_host: DevHost, blob_service: BlobServiceClient
) -> None:
    event = _cloud_event()

    response = _post(
        sample_host,
        event,
        event_type="Notification",
        content_type="application/cloudevents+json; charset=utf-8",
    )

    assert response.status == 200
    recorded = _recorded(blob_service, event["id"])
    assert recorded["eventType"] == "Example.Thing.Happened"
    assert recorded["topic"] == "/example/source"
    assert recorded["subject"] == "/things/2"
    assert recorded["data"] == {"answer": 43}
    assert recorded["dataVersion"] == "2.0"
    assert recorded["eventTime"] == "2024-05-01T10:20:30+00:00"


def test_delivers_cloud_event_batch_without_event_type_header(
    sample_host: DevHost, blob_service: BlobServiceClient
) -> None:
    events = [_cloud_event(), _cloud_event()]

    response = _post(
        sample_host,
        events,
        event_type=None,
        content_type="application/cloudevents-batch+json; charset=utf-8",
    )

    assert response.status == 200
    for event in events:
        assert _recorded(blob_service, event["id"])["id"] == event["id"]


def test_answers_500_when_the_function_fails(sample_host: DevHost) -> None:
    before = sample_host.status()["counters"]

    response = _post(sample_host, [_event_grid_event()], function="always_fail")

    assert response.status == 500
    after = sample_host.status()["counters"]
    assert after["failed"] == before["failed"] + 1
    # The sender retries a webhook delivery, so the dev host does not.
    assert after["retried"] == before["retried"]


@pytest.mark.parametrize(
    ("body", "function", "key", "status"),
    [
        (b"{not json", "record_event", None, 400),
        ([{"subject": "/no/id"}], "record_event", None, 400),
        (
            [{"specversion": "0.3", "id": "1", "source": "s", "type": "t"}],
            "record_event",
            None,
            400,
        ),
        ([], "record_event", None, 400),
        ([_event_grid_event()], "no_such_function", None, 404),
        ([_event_grid_event()], "get_item", None, 404),
        ([_event_grid_event()], "record_event", "wrong-key", 401),
    ],
    ids=[
        "not-json",
        "missing-id",
        "old-specversion",
        "empty-batch",
        "unknown-function",
        "http-function",
        "wrong-key",
    ],
)
def test_refuses_bad_requests(
    sample_host: DevHost, body: Any, function: str, key: str | None, status: int
) -> None:
    response = _post(sample_host, body, function=function, key=key)

    assert response.status == status


def test_missing_id_error_names_the_property(sample_host: DevHost) -> None:
    response = _post(sample_host, [{"eventType": "x"}])

    assert response.json() == {"error": "event 0: required property 'id' is missing"}
