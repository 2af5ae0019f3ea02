"""Parse ``Microsoft.Storage.BlobCreated`` in both delivery schemas.

Event Grid delivers storage events in its own schema (``eventType``, ``eventTime``,
``topic``) or as CloudEvents 1.0 (``type``, ``time``, ``source``); the subject and
``data`` are the same in both (Azure docs, "Azure Blob Storage as an Event Grid
source"). The Functions host hands either to the function as an
``EventGridEvent``; the webhook and the tests may hand over raw dictionaries.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from lib.errors import MedlakeError

BLOB_CREATED = "Microsoft.Storage.BlobCreated"
_SUBJECT_PREFIX = "/blobServices/default/containers/"


class EventFormatError(MedlakeError, ValueError):
    """A ``BlobCreated`` event lacks a field the pipeline needs."""


@dataclass(frozen=True)
class BlobCreated:
    """One new blob, as the pipeline needs it.

    ``repr`` hides the blob name: uploaders may put patient names in file names.
    """

    event_id: str
    event_time: datetime
    container: str
    blob_name: str
    etag: str
    content_length: int | None

    def __repr__(self) -> str:
        return (
            f"BlobCreated(event_id={self.event_id!r}, container={self.container!r}, "
            f"blob_name=<redacted>, content_length={self.content_length!r})"
        )


def _parse_time(value: Any) -> datetime:
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str) and value:
        # Event Grid sends up to 7 fractional digits; fromisoformat takes 6.
        text = value.replace("Z", "+00:00")
        head, dot, rest = text.partition(".")
        if dot:
            digits = "".join(ch for ch in rest if ch.isdigit())
            zone = rest[len(digits) :]
            text = f"{head}.{digits[:6].ljust(6, '0')}{zone}"
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError as exc:
            raise EventFormatError("event time is not an ISO 8601 timestamp") from exc
    else:
        raise EventFormatError("event has no event time")
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def _split_subject(subject: str) -> tuple[str, str]:
    if not subject.startswith(_SUBJECT_PREFIX):
        raise EventFormatError(
            "subject is not a blob subject "
            "(/blobServices/default/containers/NAME/blobs/PATH)"
        )
    container, marker, blob_name = subject[len(_SUBJECT_PREFIX) :].partition("/blobs/")
    if not marker or not container or not blob_name:
        raise EventFormatError("subject names no container or no blob")
    # The subject carries the name as stored (the event's url is the encoded
    # form), so it is not percent-decoded here.
    return container, blob_name


def parse_blob_created(
    event: Mapping[str, Any],
    *,
    container: str,
) -> BlobCreated | None:
    """Read a ``BlobCreated`` event for ``container``; ``None`` for any other event.

    Parameters
    ----------
    event : mapping
        One event in the Event Grid schema or the CloudEvents 1.0 schema.
    container : str
        The container the caller handles; events for others are ignored.

    Raises
    ------
    EventFormatError
        The event is a ``BlobCreated`` for ``container`` but lacks its id, time,
        subject or eTag.
    """
    event_type = event.get("eventType", event.get("type"))
    if event_type != BLOB_CREATED:
        return None
    subject = event.get("subject")
    if not isinstance(subject, str):
        raise EventFormatError("BlobCreated event has no subject")
    event_container, blob_name = _split_subject(subject)
    if event_container != container:
        return None

    event_id = event.get("id")
    if not isinstance(event_id, str) or not event_id:
        raise EventFormatError("BlobCreated event has no id")
    data = event.get("data")
    if not isinstance(data, Mapping):
        raise EventFormatError("BlobCreated event has no data object")
    etag = data.get("eTag") or data.get("etag")
    if not isinstance(etag, str) or not etag:
        raise EventFormatError("BlobCreated event data has no eTag")
    length = data.get("contentLength")
    return BlobCreated(
        event_id=event_id,
        event_time=_parse_time(event.get("eventTime", event.get("time"))),
        container=event_container,
        blob_name=blob_name,
        etag=etag,
        content_length=length if isinstance(length, int) else None,
    )
