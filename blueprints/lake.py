"""Lake timers and the analytics summary endpoint.

Thin adapters over :mod:`lib.lake`: the commit timer folds staged rows into the
Delta tables every minute (so readers see an upload within two minutes), the
maintenance timer compacts and vacuums them daily, and ``GET
/api/analytics/summary`` returns the key measures as JSON.
"""

from __future__ import annotations

import json
import logging

import azure.functions as func

from lib.errors import MedlakeError
from lib.lake import LakeCommitter, LakeLocation, LakeSettings
from lib.lake.maintenance import maintain
from lib.lake.summary import analytics_summary
from lib.once import once
from lib.settings import Settings
from lib.storage import blob_service_client

logger = logging.getLogger(__name__)

bp = func.Blueprint()

COMMIT_SCHEDULE = "0 */1 * * * *"
# Half past the minute, between two commit runs (both take the commit lease).
MAINTENANCE_SCHEDULE = "30 30 2 * * *"


@once
def _committer() -> LakeCommitter:
    # One committer per worker process: clients and table existence are reused.
    settings = Settings.from_env()
    return LakeCommitter(
        blob_service_client(settings), LakeLocation(settings), LakeSettings.from_env()
    )


@bp.timer_trigger(arg_name="timer", schedule=COMMIT_SCHEDULE, run_on_startup=False)
def lake_commit(timer: func.TimerRequest) -> None:
    """Commit staged rows to the Delta tables (raises: the next run retries)."""
    _committer().commit()


@bp.timer_trigger(arg_name="timer", schedule=MAINTENANCE_SCHEDULE, run_on_startup=False)
def lake_maintenance(timer: func.TimerRequest) -> None:
    """Compact and vacuum every table."""
    settings = Settings.from_env()
    maintain(
        blob_service_client(settings), LakeLocation(settings), LakeSettings.from_env()
    )


# The Analytics.View role check arrives with the security issue; until then the
# function key guards the figures (aggregates only, no identifiers).
@bp.route(
    route="analytics/summary", methods=["GET"], auth_level=func.AuthLevel.FUNCTION
)
def analytics_summary_http(req: func.HttpRequest) -> func.HttpResponse:
    """The key measures of the lake as JSON (see docs/tables.md)."""
    settings = Settings.from_env()
    try:
        summary = analytics_summary(LakeLocation(settings))
    except MedlakeError as exc:
        logger.warning("analytics summary failed (%s)", type(exc).__name__)
        return func.HttpResponse(
            json.dumps({"error": "the lake could not be read; try again"}),
            mimetype="application/json",
            status_code=503,
        )
    return func.HttpResponse(
        json.dumps(summary.to_dict()), mimetype="application/json", status_code=200
    )
