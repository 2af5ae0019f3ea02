"""Publish what became of each upload as Event Grid events.

Subscribers (alerting, downstream loaders) get ``Medlake.InstanceAccepted`` or
``Medlake.InstanceRejected``. The payload carries content hashes, blob locations
and finding codes only: no UIDs of the original, no blob names, no values.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from lib.errors import TransientError
from lib.settings import Settings

logger = logging.getLogger(__name__)

INSTANCE_ACCEPTED = "Medlake.InstanceAccepted"
INSTANCE_REJECTED = "Medlake.InstanceRejected"
DATA_VERSION = "1.0"

# Outcome ids are derived from the incoming event id so that a redelivered event
# republishes the same id and subscribers can drop the duplicate.
_OUTCOME_NAMESPACE = uuid.UUID("6f3c2a4e-95a1-4c57-9d0c-3f1e8f6b2d10")


@dataclass(frozen=True)
class Outcome:
    """The result of processing one upload, safe to publish."""

    event_type: str
    source_event_id: str
    sha256: str
    size: int
    location: str
    codes: tuple[str, ...] = ()
    details: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.event_type not in (INSTANCE_ACCEPTED, INSTANCE_REJECTED):
            raise ValueError(f"unknown outcome event type {self.event_type!r}")

    @property
    def event_id(self) -> str:
        name = f"{self.source_event_id}/{self.event_type}"
        return str(uuid.uuid5(_OUTCOME_NAMESPACE, name))

    @property
    def subject(self) -> str:
        return f"/medlake/instances/sha256/{self.sha256}"

    def to_data(self) -> dict[str, Any]:
        return {
            "sha256": self.sha256,
            "size": self.size,
            "location": self.location,
            "codes": list(self.codes),
            "sourceEventId": self.source_event_id,
            **dict(self.details),
        }


class OutcomePublisher(Protocol):
    def publish(self, outcomes: Sequence[Outcome]) -> None:
        """Publish every outcome, all or none; raise TransientError on failure."""
        ...


class LogOutcomePublisher:
    """Used when no topic is configured: the outcome goes to the log only."""

    def publish(self, outcomes: Sequence[Outcome]) -> None:
        for outcome in outcomes:
            logger.info(
                "outcome %s id=%s sha256=%s codes=%s",
                outcome.event_type,
                outcome.event_id,
                outcome.sha256,
                ",".join(outcome.codes) or "-",
            )


class EventGridOutcomePublisher:
    """Publishes to an Event Grid custom topic with the topic's access key."""

    def __init__(self, endpoint: str, key: str) -> None:
        from azure.core.credentials import AzureKeyCredential
        from azure.eventgrid import EventGridPublisherClient

        self._client = EventGridPublisherClient(endpoint, AzureKeyCredential(key))

    def publish(self, outcomes: Sequence[Outcome]) -> None:
        """Send the outcomes in one request: Event Grid takes a batch whole.

        Raises
        ------
        TransientError
            The topic refused or could not be reached; the events are retried.
        """
        from azure.core.exceptions import AzureError
        from azure.eventgrid import EventGridEvent

        now = datetime.now(UTC)
        events = [
            EventGridEvent(
                subject=outcome.subject,
                event_type=outcome.event_type,
                data=outcome.to_data(),
                data_version=DATA_VERSION,
                id=outcome.event_id,
                event_time=now,
            )
            for outcome in outcomes
        ]
        if not events:
            return
        try:
            self._client.send(events)
        except AzureError as exc:
            raise TransientError(
                f"publishing {len(events)} outcome event(s) failed "
                f"({type(exc).__name__}); the events will be retried"
            ) from exc


def outcome_publisher(settings: Settings) -> OutcomePublisher:
    """The publisher the settings ask for."""
    if settings.outcome_topic_endpoint:
        return EventGridOutcomePublisher(
            settings.outcome_topic_endpoint, settings.outcome_topic_key
        )
    return LogOutcomePublisher()
