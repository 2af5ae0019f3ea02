"""Event shapes: Event Grid schema, CloudEvents 1.0, BlobCreated and dead letters.

Internally every event is a dict in the Event Grid schema (``id``, ``topic``,
``subject``, ``eventType``, ``eventTime``, ``data``, ``dataVersion``), the shape
``func.EventGridEvent`` is built from; CloudEvents are mapped onto it the way the
Functions Event Grid extension binds them to ``EventGridEvent``.
"""

from __future__ import annotations

import base64
import itertools
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

__all__ = [
    "BLOB_CREATED",
    "LOCAL_STORAGE_TOPIC",
    "SUBSCRIPTION_VALIDATION",
    "EventFormatError",
    "blob_created_event",
    "dead_letter_document",
    "format_time",
    "is_cloud_event",
    "normalize_events",
    "parse_time",
    "validate_topic_events",
]

BLOB_CREATED = "Microsoft.Storage.BlobCreated"
SUBSCRIPTION_VALIDATION = "Microsoft.EventGrid.SubscriptionValidationEvent"
LOCAL_STORAGE_TOPIC = (
    "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/"
    "medlake-local/providers/Microsoft.Storage/storageAccounts/{account}"
)

# Storage events carry a sequencer: an opaque, monotonically increasing 32-hex
# string per blob. One counter per dev host process keeps that ordering property.
_SEQUENCER = itertools.count(1)


class EventFormatError(ValueError):
    """An event or batch does not follow its schema; the message names the field."""


def format_time(moment: datetime) -> str:
    """ISO 8601 in UTC with a ``Z`` suffix, as Event Grid writes times."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def parse_time(text: str) -> datetime:
    """Parse an ISO 8601 event time; naive times are taken as UTC."""
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def is_cloud_event(document: Any) -> bool:
    """Whether a JSON object is a CloudEvent (it carries ``specversion``)."""
    return isinstance(document, Mapping) and "specversion" in document


def _require_text(event: Mapping[str, Any], key: str, index: int) -> str:
    value = event.get(key)
    if not isinstance(value, str) or not value:
        raise EventFormatError(f"event {index}: required property '{key}' is missing")
    return value


def _from_cloud_event(event: Mapping[str, Any], index: int) -> dict[str, Any]:
    if event.get("specversion") != "1.0":
        raise EventFormatError(f"event {index}: 'specversion' must be '1.0'")
    for key in ("id", "source", "type"):
        _require_text(event, key, index)
    time = event.get("time")
    if time is not None:
        _check_time(time, "time", index)
    data: Any = event.get("data")
    if "data_base64" in event:
        try:
            data = base64.b64decode(event["data_base64"], validate=True)
        except (TypeError, ValueError) as exc:
            raise EventFormatError(f"event {index}: 'data_base64' is invalid") from exc
    # The extension maps type→eventType, source→topic, time→eventTime and the
    # "dataversion" extension attribute to dataVersion.
    return {
        "id": event["id"],
        "topic": event["source"],
        "subject": event.get("subject", ""),
        "eventType": event["type"],
        "eventTime": time,
        "data": data,
        "dataVersion": event.get("dataversion", ""),
    }


def _check_time(value: Any, key: str, index: int) -> None:
    try:
        parse_time(value)
    except (TypeError, ValueError) as exc:
        raise EventFormatError(
            f"event {index}: '{key}' is not an ISO 8601 time"
        ) from exc


def _from_event_grid(event: Mapping[str, Any], index: int) -> dict[str, Any]:
    for key in ("id", "eventType"):
        _require_text(event, key, index)
    time = event.get("eventTime")
    if time is not None:
        _check_time(time, "eventTime", index)
    return {
        "id": event["id"],
        "topic": event.get("topic", ""),
        "subject": event.get("subject", ""),
        "eventType": event["eventType"],
        "eventTime": time,
        "data": event.get("data"),
        "dataVersion": event.get("dataVersion", ""),
    }


def normalize_events(body: Any) -> list[dict[str, Any]]:
    """Turn a webhook body into Event Grid schema events.

    Parameters
    ----------
    body : Any
        Parsed JSON: an Event Grid schema array, a single CloudEvent, or a
        CloudEvents batch array.

    Returns
    -------
    list[dict[str, Any]]
        One dict per event, in Event Grid schema.
    """
    events = body if isinstance(body, list) else [body]
    if not events:
        raise EventFormatError("the batch is empty")
    normalized = []
    for index, event in enumerate(events):
        if not isinstance(event, Mapping):
            raise EventFormatError(f"event {index} is not a JSON object")
        if is_cloud_event(event):
            normalized.append(_from_cloud_event(event, index))
        else:
            normalized.append(_from_event_grid(event, index))
    return normalized


def validate_topic_events(body: Any, cloud_events: bool) -> list[dict[str, Any]]:
    """Check a batch posted to a topic as Event Grid's publish API does.

    Event Grid schema events need ``id``, ``subject``, ``eventType``,
    ``eventTime`` and ``dataVersion`` is optional; CloudEvents need ``id``,
    ``source``, ``type`` and ``specversion`` 1.0.

    Returns
    -------
    list[dict[str, Any]]
        The events exactly as posted.
    """
    events = body if isinstance(body, list) else [body] if cloud_events else None
    if events is None:
        raise EventFormatError("the body must be a JSON array of events")
    if not events:
        raise EventFormatError("the batch is empty")
    for index, event in enumerate(events):
        if not isinstance(event, Mapping):
            raise EventFormatError(f"event {index} is not a JSON object")
        if cloud_events:
            _from_cloud_event(event, index)
            continue
        for key in ("id", "subject", "eventType", "eventTime"):
            _require_text(event, key, index)
        _check_time(event["eventTime"], "eventTime", index)
    return list(events)


def blob_created_event(
    *,
    account: str,
    container: str,
    container_url: str,
    name: str,
    etag: str,
    last_modified: datetime,
    content_type: str,
    content_length: int,
) -> dict[str, Any]:
    """A ``Microsoft.Storage.BlobCreated`` event shaped as Azure Storage sends it.

    Parameters
    ----------
    account, container : str
        Storage account and container names.
    container_url : str
        The container's URL; the blob URL appends the percent-encoded name.
    name : str
        The blob name.
    etag : str
        The blob's ETag; Storage events write it without the HTTP quotes.
    last_modified : datetime
        Becomes ``eventTime``.
    content_type : str
        The blob's content type.
    content_length : int
        The blob's size in bytes.
    """
    return {
        "topic": LOCAL_STORAGE_TOPIC.format(account=account),
        "subject": f"/blobServices/default/containers/{container}/blobs/{name}",
        "eventType": BLOB_CREATED,
        "eventTime": format_time(last_modified),
        "id": str(uuid.uuid4()),
        "data": {
            "api": "PutBlob",
            "clientRequestId": str(uuid.uuid4()),
            "requestId": str(uuid.uuid4()),
            "eTag": etag.strip('"'),
            "contentType": content_type,
            "contentLength": content_length,
            "blobType": "BlockBlob",
            "url": f"{container_url.rstrip('/')}/{quote(name, safe='/~')}",
            "sequencer": f"{next(_SEQUENCER):032X}",
            "storageDiagnostics": {"batchId": str(uuid.uuid4())},
        },
        "dataVersion": "",
        "metadataVersion": "1",
    }


def dead_letter_document(
    event: Mapping[str, Any],
    *,
    attempts: int,
    error_type: str,
    error_message: str,
    publish_time: datetime,
    last_attempt_time: datetime,
) -> list[dict[str, Any]]:
    """The blob Event Grid writes for a dead-lettered event.

    Event Grid writes a JSON array holding the event with its delivery record
    appended; ``lastErrorType`` and ``lastErrorMessage`` are dev host additions
    (the real service only knows the HTTP outcome of the webhook call).
    """
    return [
        {
            **event,
            "deadLetterReason": "MaxDeliveryAttemptsExceeded",
            "deliveryAttempts": attempts,
            "lastDeliveryOutcome": "GenericError",
            "lastHttpStatusCode": 500,
            "lastErrorType": error_type,
            "lastErrorMessage": error_message,
            "publishTime": format_time(publish_time),
            "lastDeliveryAttemptTime": format_time(last_attempt_time),
        }
    ]
