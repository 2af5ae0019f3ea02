"""Events in and out: ``BlobCreated`` parsing and outcome publishing."""

from lib.events.blob_created import (
    BLOB_CREATED,
    BlobCreated,
    EventFormatError,
    parse_blob_created,
)
from lib.events.outcomes import (
    INSTANCE_ACCEPTED,
    INSTANCE_REJECTED,
    EventGridOutcomePublisher,
    LogOutcomePublisher,
    Outcome,
    OutcomePublisher,
    outcome_publisher,
)

__all__ = [
    "BLOB_CREATED",
    "INSTANCE_ACCEPTED",
    "INSTANCE_REJECTED",
    "BlobCreated",
    "EventFormatError",
    "EventGridOutcomePublisher",
    "LogOutcomePublisher",
    "Outcome",
    "OutcomePublisher",
    "outcome_publisher",
    "parse_blob_created",
]
