"""A Function App that exercises every dev host feature, for the dev host tests.

Event and timer functions leave evidence in the ``probe`` container of the
storage account from the settings, because they run in worker processes that
the tests cannot observe directly.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import time
import uuid

import azure.functions as func
from azure.core.exceptions import ResourceExistsError
from azure.storage.blob import BlobServiceClient, ContainerClient

from lib.settings import Settings
from lib.storage import blob_service_client

PROBE = "probe"

app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)


@functools.cache
def _service() -> BlobServiceClient:
    # One client per worker process, reused by every invocation.
    return blob_service_client(Settings.from_env())


def _probe() -> ContainerClient:
    # Created on every call: tests empty the account between cases while the
    # same dev host keeps running.
    container = _service().get_container_client(PROBE)
    with contextlib.suppress(ResourceExistsError):
        container.create_container()
    return container


def _json_response(document: object, status_code: int = 200) -> func.HttpResponse:
    return func.HttpResponse(
        json.dumps(document), status_code=status_code, mimetype="application/json"
    )


def _describe(req: func.HttpRequest) -> dict[str, object]:
    return {
        "method": req.method,
        "route_params": dict(req.route_params),
        "params": dict(req.params),
        "body_length": len(req.get_body()),
        "header": req.headers.get("x-sample-header"),
    }


# -- HTTP ---------------------------------------------------------------------


@app.route(
    route="items/{item_id:int}/{label?}",
    methods=["GET", "PUT"],
    auth_level=func.AuthLevel.ANONYMOUS,
)
def get_item(req: func.HttpRequest) -> func.HttpResponse:
    return _json_response({"function": "get_item", **_describe(req)})


@app.route(route="items/latest", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def latest_item(req: func.HttpRequest) -> func.HttpResponse:
    return _json_response({"function": "latest_item"})


@app.route(
    route="names/{name:alpha}", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS
)
def by_name(req: func.HttpRequest) -> func.HttpResponse:
    return _json_response({"function": "by_name", **_describe(req)})


@app.route(
    route="codes/{code:regex(^[A-Z]{{3}}$)}",
    methods=["GET"],
    auth_level=func.AuthLevel.ANONYMOUS,
)
def by_code(req: func.HttpRequest) -> func.HttpResponse:
    return _json_response({"function": "by_code", **_describe(req)})


@app.route(route="files/{*path}", auth_level=func.AuthLevel.ANONYMOUS)
def files(req: func.HttpRequest) -> func.HttpResponse:
    return _json_response({"function": "files", **_describe(req)})


@app.route(route="echo", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
def echo(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(
        req.get_body(),
        status_code=201,
        headers={"X-Echo": "yes"},
        mimetype="application/octet-stream",
    )


@app.route(route="secure/function", methods=["GET"])
def function_level(req: func.HttpRequest) -> func.HttpResponse:
    return _json_response({"function": "function_level"})


@app.route(route="secure/admin", methods=["GET"], auth_level=func.AuthLevel.ADMIN)
def admin_level(req: func.HttpRequest) -> func.HttpResponse:
    return _json_response({"function": "admin_level"})


@app.route(route="boom", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
def boom(req: func.HttpRequest) -> func.HttpResponse:
    raise RuntimeError("sample failure")


@app.route(route="async/{name}", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
async def async_greeting(req: func.HttpRequest) -> func.HttpResponse:
    return _json_response({"function": "async_greeting", **_describe(req)})


# -- Event Grid -----------------------------------------------------------------


@app.event_grid_trigger(arg_name="event")
def record_event(event: func.EventGridEvent) -> None:
    """Write the event, the worker's pid and the run's interval to ``probe``."""
    started = time.time()
    time.sleep(float(os.environ.get("SAMPLE_RECORD_SLEEP", "0")))
    document = {
        "id": event.id,
        "topic": event.topic,
        "subject": event.subject,
        "eventType": event.event_type,
        "eventTime": event.event_time.isoformat() if event.event_time else None,
        "dataVersion": event.data_version,
        "data": event.get_json(),
        "pid": os.getpid(),
        "started": started,
        "finished": time.time(),
    }
    _probe().upload_blob(f"events/{event.id}.json", json.dumps(document))


def _count_attempt(event: func.EventGridEvent) -> int:
    """Record one attempt for this event; return how many came before it."""
    container = _probe()
    earlier = len(
        list(container.list_blob_names(name_starts_with=f"attempts/{event.id}/"))
    )
    container.upload_blob(f"attempts/{event.id}/{uuid.uuid4()}", b"")
    return earlier


@app.event_grid_trigger(arg_name="event")
def fail_first_attempts(event: func.EventGridEvent) -> None:
    """Fail the first ``SAMPLE_FAIL_FIRST`` attempts per event, then succeed."""
    limit = int(os.environ.get("SAMPLE_FAIL_FIRST", "2"))
    earlier = _count_attempt(event)
    if earlier < limit:
        raise RuntimeError(f"injected failure {earlier + 1} of {limit}")
    _probe().upload_blob(f"succeeded/{event.id}", b"", overwrite=True)


@app.event_grid_trigger(arg_name="event")
def always_fail(event: func.EventGridEvent) -> None:
    _count_attempt(event)
    raise ValueError("always fails")


@app.event_grid_trigger(arg_name="event")
def crash_first_attempt(event: func.EventGridEvent) -> None:
    """Kill the worker process on the first attempt per event, as a segfault would."""
    if _count_attempt(event) == 0:
        os._exit(13)
    _probe().upload_blob(f"succeeded/{event.id}", b"", overwrite=True)


# -- timers -------------------------------------------------------------------


@app.timer_trigger(schedule="0 0 0 1 1 *", arg_name="timer", run_on_startup=False)
def yearly_marker(timer: func.TimerRequest) -> None:
    _probe().upload_blob(
        f"timers/yearly/{uuid.uuid4()}", json.dumps({"past_due": timer.past_due})
    )


@app.timer_trigger(schedule="* * * * * *", arg_name="timer", run_on_startup=False)
def every_second_marker(timer: func.TimerRequest) -> None:
    _probe().upload_blob(f"timers/every-second/{uuid.uuid4()}", b"")
