"""The local Event Grid topic, exercised with the real EventGridPublisherClient."""

from __future__ import annotations

import json

import pytest
from azure.core.credentials import AzureKeyCredential
from azure.core.exceptions import ClientAuthenticationError, HttpResponseError
from azure.core.messaging import CloudEvent
from azure.eventgrid import EventGridEvent, EventGridPublisherClient

from tests.devhost.conftest import TOPIC_KEY
from tests.support.devhost import DevHost


def _client(
    host: DevHost, topic: str, key: str = TOPIC_KEY
) -> EventGridPublisherClient:
    return EventGridPublisherClient(
        f"{host.base_url}/runtime/topics/{topic}/api/events", AzureKeyCredential(key)
    )


def test_records_event_grid_events_from_the_sdk_client(sample_host: DevHost) -> None:
    event = EventGridEvent(
        subject="instances/1.2.3",
        event_type="Medlake.InstanceArchived",
        data={"sha256": "ab" * 32},
        data_version="1.0",
    )

    with _client(sample_host, "outcomes-eg") as client:
        client.send([event])

    [recorded] = sample_host.published_events("outcomes-eg")
    assert recorded["id"] == str(event.id)
    assert recorded["eventType"] == "Medlake.InstanceArchived"
    assert recorded["subject"] == "instances/1.2.3"
    assert recorded["data"] == {"sha256": "ab" * 32}
    assert recorded["dataVersion"] == "1.0"


def test_records_cloud_events_from_the_sdk_client(sample_host: DevHost) -> None:
    events = [
        CloudEvent(
            source="/medlake/ingest",
            type="Medlake.InstanceQuarantined",
            data={"code": "NOT_DICOM"},
        )
        for _ in range(2)
    ]

    with _client(sample_host, "outcomes-ce") as client:
        client.send(events)

    recorded = sample_host.published_events("outcomes-ce")
    assert [e["id"] for e in recorded] == [e.id for e in events]
    assert recorded[0]["specversion"] == "1.0"
    assert recorded[0]["type"] == "Medlake.InstanceQuarantined"
    assert recorded[0]["data"] == {"code": "NOT_DICOM"}


def test_refuses_a_wrong_key(sample_host: DevHost) -> None:
    event = EventGridEvent(subject="s", event_type="t", data={}, data_version="1")

    with (
        _client(sample_host, "outcomes-denied", key="wrong") as client,
        pytest.raises((ClientAuthenticationError, HttpResponseError)) as caught,
    ):
        client.send([event])

    assert caught.value.status_code == 401
    assert sample_host.published_events("outcomes-denied") == []


def test_answers_400_for_malformed_events_like_event_grid(sample_host: DevHost) -> None:
    response = sample_host.request(
        "POST",
        "/runtime/topics/outcomes-bad/api/events",
        params={"api-version": "2018-01-01"},
        headers={"aeg-sas-key": TOPIC_KEY, "Content-Type": "application/json"},
        body=json.dumps([{"id": "1", "subject": "s", "eventType": "t"}]),
    )

    assert response.status == 400
    assert response.json() == {
        "error": {
            "code": "BadRequest",
            "message": "event 0: required property 'eventTime' is missing",
            "details": [
                {
                    "code": "InputJsonInvalid",
                    "message": "event 0: required property 'eventTime' is missing",
                }
            ],
        }
    }
    assert sample_host.published_events("outcomes-bad") == []


def test_reading_events_needs_the_master_key(sample_host: DevHost) -> None:
    response = sample_host.request("GET", "/runtime/topics/outcomes-eg/events")

    assert response.status == 401
