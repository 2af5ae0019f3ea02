"""Operational endpoints: health for probes and `make up`."""

from __future__ import annotations

import json

import azure.functions as func

bp = func.Blueprint()


@bp.route(route="health", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def health(req: func.HttpRequest) -> func.HttpResponse:
    """Liveness: answers while the app can import and serve."""
    return func.HttpResponse(
        json.dumps({"status": "ok"}), mimetype="application/json", status_code=200
    )
