"""Event Grid trigger: a blob arrived in ``incoming``.

A thin adapter: turn the trigger's event into a :class:`lib.events.BlobCreated`
and hand it to the pipeline. Raising makes the host answer 500, so Event Grid
redelivers with backoff and finally dead-letters the event (see host.json and
docs/operations.md); the pipeline is idempotent, so that is always safe.
"""

from __future__ import annotations

import logging

import azure.functions as func

from lib.composition import build_pipeline
from lib.events import parse_blob_created
from lib.ingest import IngestPipeline
from lib.once import once
from lib.storage import INCOMING

logger = logging.getLogger(__name__)

bp = func.Blueprint()


@once
def _pipeline() -> IngestPipeline:
    # One pipeline per worker process: clients and connection pools are reused
    # across invocations, as the Functions Python worker keeps modules loaded.
    return build_pipeline()


@bp.event_grid_trigger(arg_name="event")
def ingest_blob_created(event: func.EventGridEvent) -> None:
    """Validate and archive one upload; ignore other events and containers."""
    blob_event = parse_blob_created(
        {
            "id": event.id,
            "eventType": event.event_type,
            "subject": event.subject,
            "eventTime": event.event_time,
            "data": event.get_json(),
        },
        container=INCOMING,
    )
    if blob_event is None:
        logger.info("event=%s type=%s ignored", event.id, event.event_type)
        return
    _pipeline().handle(blob_event)
