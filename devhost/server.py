"""The dev host's HTTP surface and lifecycle.

Paths follow the Functions host so clients need no dev-only configuration:
``/api/{route}`` for HTTP functions, ``/runtime/webhooks/eventgrid`` for the
Event Grid extension, ``/admin/functions/{name}`` to run a non-HTTP function
once. ``/runtime/topics/...`` plays an Event Grid topic and ``/runtime/status``
reports the host's state.
"""

from __future__ import annotations

import asyncio
import hmac
import inspect
import ipaddress
import json
import logging
import time
import uuid
from collections.abc import Callable, Iterable
from typing import Any

import azure.functions as func
from aiohttp import web

from devhost.config import DevHostConfig
from devhost.discovery import (
    EVENT_GRID_TRIGGER,
    HTTP_TRIGGER,
    TIMER_TRIGGER,
    FunctionSpec,
)
from devhost.dispatcher import Dispatcher
from devhost.events import (
    SUBSCRIPTION_VALIDATION,
    EventFormatError,
    normalize_events,
    validate_topic_events,
)
from devhost.routing import RouteTable
from devhost.timers import TimerScheduler
from devhost.topics import TopicStore
from devhost.watcher import BlobWatcher

__all__ = ["MAX_REQUEST_BYTES", "DevHostServer"]

logger = logging.getLogger(__name__)

# The Functions host limits HTTP request bodies to 100 MB (maxRequestBodySize).
MAX_REQUEST_BYTES = 100 * 1024 * 1024
ROUTE_PREFIX = "/api/"
SHUTDOWN_GRACE_SECONDS = 10.0
FUNCTION_KEY_HEADER = "x-functions-key"


def _json(document: Any, status: int = 200) -> web.Response:
    return web.json_response(document, status=status)


def _presented_key(request: web.Request) -> str:
    # The host accepts a key as the `code` query parameter or this header.
    return request.headers.get(FUNCTION_KEY_HEADER) or request.query.get("code", "")


def _key_matches(presented: str, allowed: Iterable[str]) -> bool:
    given = presented.encode()
    return bool(presented) and any(
        hmac.compare_digest(given, key.encode()) for key in allowed
    )


def _is_loopback(request: web.Request) -> bool:
    try:
        return ipaddress.ip_address(request.remote or "").is_loopback
    except ValueError:
        return False


def _unauthorized() -> web.Response:
    return web.Response(status=401)


def _to_web_response(result: Any) -> web.Response:
    """Map a function's return value onto an aiohttp response."""
    if result is None:
        return web.Response(status=204)
    if isinstance(result, str | bytes):
        return web.Response(
            body=result if isinstance(result, bytes) else result.encode("utf-8"),
            content_type="text/plain",
            charset="utf-8",
        )
    if not isinstance(result, func.HttpResponse):
        raise TypeError(
            f"an HTTP function returned {type(result).__name__}; return "
            "func.HttpResponse"
        )
    headers = {
        name: value
        for name, value in result.headers.items()
        if name.lower() != "content-length"  # recomputed from the body
    }
    if not any(name.lower() == "content-type" for name in headers) and result.mimetype:
        textual = result.mimetype.startswith("text/") or result.mimetype.endswith(
            ("json", "xml", "javascript")
        )
        headers["Content-Type"] = (
            f"{result.mimetype}; charset={result.charset}"
            if textual and result.charset
            else result.mimetype
        )
    return web.Response(
        status=result.status_code, headers=headers, body=result.get_body()
    )


class DevHostServer:
    """The aiohttp application plus the background services it reports on.

    Parameters
    ----------
    config : DevHostConfig
        Validated settings.
    functions : list[FunctionSpec]
        The app's functions (discovered in this process for HTTP functions).
    dispatcher : Dispatcher
        Runs event and timer functions in the worker pool.
    watcher : BlobWatcher | None
        The blob watcher, or ``None`` when disabled.
    scheduler : TimerScheduler | None
        The timer scheduler, or ``None`` when disabled.
    """

    def __init__(
        self,
        config: DevHostConfig,
        functions: list[FunctionSpec],
        dispatcher: Dispatcher,
        watcher: BlobWatcher | None,
        scheduler: TimerScheduler | None,
    ) -> None:
        self.config = config
        self.functions = {spec.name: spec for spec in functions}
        self.dispatcher = dispatcher
        self.watcher = watcher
        self.scheduler = scheduler
        self.topics = TopicStore()
        self.state = "starting"
        self.http_in_flight = 0
        self.worker_pids: list[int] = []
        self.routes = RouteTable.build(
            (spec.route, spec) for spec in functions if spec.trigger == HTTP_TRIGGER
        )
        self.app = web.Application(client_max_size=MAX_REQUEST_BYTES)
        self.app.router.add_route("*", "/api/{tail:.*}", self.handle_http_function)
        self.app.router.add_route(
            "*", "/runtime/webhooks/eventgrid", self.handle_eventgrid_webhook
        )
        self.app.router.add_post("/admin/functions/{name}", self.handle_admin_invoke)
        self.app.router.add_post(
            "/runtime/topics/{topic}/api/events", self.handle_topic_publish
        )
        self.app.router.add_get(
            "/runtime/topics/{topic}/events", self.handle_topic_read
        )
        self.app.router.add_get("/runtime/status", self.handle_status)

    # -- HTTP functions -------------------------------------------------------

    def _authorized(self, request: web.Request, auth_level: str) -> bool:
        if auth_level == "anonymous":
            return True
        allowed = [self.config.master_key]
        if auth_level == "function":
            allowed.append(self.config.function_key)
        return _key_matches(_presented_key(request), allowed)

    async def handle_http_function(self, request: web.Request) -> web.StreamResponse:
        """``/api/{route}``: route, authorize and run an HTTP-triggered function."""
        started = time.monotonic()
        correlation_id = str(uuid.uuid4())
        response, name = await self._route_http_function(request, correlation_id)
        # One line per request. No path or query: route values and parameters
        # can carry identifiers a caller typed in.
        logger.info(
            "http function=%s method=%s status=%d correlation_id=%s duration_ms=%d",
            name,
            request.method,
            response.status,
            correlation_id,
            (time.monotonic() - started) * 1000,
        )
        return response

    async def _route_http_function(
        self, request: web.Request, correlation_id: str
    ) -> tuple[web.Response, str]:
        raw_path = request.rel_url.raw_path[len(ROUTE_PREFIX) :]
        matches = self.routes.match(raw_path)
        if not matches:
            return web.Response(status=404), "-"
        allowed = [
            (spec, params)
            for spec, params in matches
            if isinstance(spec, FunctionSpec) and request.method in spec.methods
        ]
        if not allowed:
            methods = sorted(
                {
                    m
                    for spec, _ in matches
                    if isinstance(spec, FunctionSpec)
                    for m in spec.methods
                }
            )
            allow = {"Allow": ", ".join(methods)}
            return web.Response(status=405, headers=allow), "-"
        spec, route_params = allowed[0]
        assert isinstance(spec, FunctionSpec)
        if not self._authorized(request, spec.auth_level):
            return _unauthorized(), spec.name

        self.http_in_flight += 1
        try:
            response = await self._run_http_function(
                spec, request, dict(route_params), correlation_id
            )
        finally:
            self.http_in_flight -= 1
        return response, spec.name

    async def _run_http_function(
        self,
        spec: FunctionSpec,
        request: web.Request,
        route_params: dict[str, str],
        correlation_id: str,
    ) -> web.Response:
        body = await request.read()
        headers: dict[str, str] = {}
        for name, value in request.headers.items():
            key = name.lower()
            headers[key] = f"{headers[key]}, {value}" if key in headers else value
        http_request = func.HttpRequest(
            request.method,
            str(request.url),
            headers=headers,
            params=dict(request.query),
            route_params=route_params,
            body=body,
        )
        function: Callable[..., Any] = spec.user_function
        try:
            if inspect.iscoroutinefunction(function):
                result = await function(**{spec.argument: http_request})
            else:
                # Synchronous functions run in a thread, as the Python worker
                # runs them in its thread pool, so the host stays responsive.
                result = await asyncio.to_thread(
                    function, **{spec.argument: http_request}
                )
                if inspect.isawaitable(result):
                    result = await result
            return _to_web_response(result)
        except Exception:
            # The traceback goes to the log with the correlation id; the caller
            # gets only the id, and the request body is never echoed.
            logger.exception(
                "http function %s failed correlation_id=%s", spec.name, correlation_id
            )
            return _json(
                {"error": "internal_error", "correlationId": correlation_id}, 500
            )

    # -- Event Grid webhook ---------------------------------------------------

    async def handle_eventgrid_webhook(self, request: web.Request) -> web.Response:
        """``/runtime/webhooks/eventgrid?functionName=NAME``, as the extension.

        Event Grid schema subscriptions validate with a
        ``SubscriptionValidationEvent`` (``aeg-event-type: SubscriptionValidation``)
        and deliver with ``aeg-event-type: Notification``; CloudEvents
        subscriptions validate with the CloudEvents webhook abuse-protection
        ``OPTIONS`` handshake. Accepted keys (``code`` or ``x-functions-key``):
        the master key or ``MEDLAKE_DEVHOST_EVENTGRID_KEY``, standing in for the
        host's ``eventgrid_extension`` system key.
        """
        if not _key_matches(
            _presented_key(request), [self.config.master_key, self.config.eventgrid_key]
        ):
            return _unauthorized()
        if request.method == "OPTIONS":
            origin = request.headers.get("WebHook-Request-Origin")
            if not origin:
                return _json({"error": "WebHook-Request-Origin header missing"}, 400)
            return web.Response(
                status=200,
                headers={"WebHook-Allowed-Origin": origin, "WebHook-Allowed-Rate": "*"},
            )
        if request.method != "POST":
            return web.Response(status=405, headers={"Allow": "POST, OPTIONS"})

        name = request.query.get("functionName", "")
        spec = self.functions.get(name)
        if spec is None or spec.trigger != EVENT_GRID_TRIGGER:
            return _json({"error": "no Event Grid function with that name"}, 404)
        try:
            body = json.loads(await request.read())
        except ValueError:
            return _json({"error": "the body is not JSON"}, 400)

        event_type_header = request.headers.get("aeg-event-type", "")
        if event_type_header == "SubscriptionValidation":
            return self._validation_response(body)
        if event_type_header == "Unsubscribe":
            return web.Response(status=202)
        cloud = "cloudevents" in request.content_type or (
            isinstance(body, dict) and "specversion" in body
        )
        if event_type_header != "Notification" and not cloud:
            return _json({"error": "aeg-event-type header missing or unknown"}, 400)
        try:
            events = normalize_events(body)
        except EventFormatError as exc:
            return _json({"error": str(exc)}, 400)

        results = await asyncio.gather(
            *(
                self.dispatcher.invoke_once(name, event, event["id"], "webhook")
                for event in events
            )
        )
        failed = sum(not result.ok for result in results)
        if failed:
            # The extension answers 500 when an invocation fails, so Event Grid
            # retries the delivery.
            return _json({"error": "function_failed", "failedEvents": failed}, 500)
        return web.Response(status=200)

    @staticmethod
    def _validation_response(body: Any) -> web.Response:
        events = body if isinstance(body, list) else [body]
        for event in events:
            if (
                isinstance(event, dict)
                and event.get("eventType") == SUBSCRIPTION_VALIDATION
                and isinstance(event.get("data"), dict)
                and "validationCode" in event["data"]
            ):
                return _json({"validationResponse": event["data"]["validationCode"]})
        return _json({"error": "no SubscriptionValidationEvent in the body"}, 400)

    # -- admin ------------------------------------------------------------------

    async def handle_admin_invoke(self, request: web.Request) -> web.Response:
        """``POST /admin/functions/{name}``: run a non-HTTP function once (202).

        The host's admin API takes ``{"input": "..."}``; for a timer the input is
        ignored, for an Event Grid function it is the event as JSON.
        """
        if not _key_matches(_presented_key(request), [self.config.master_key]):
            return _unauthorized()
        spec = self.functions.get(request.match_info["name"])
        if spec is None:
            return web.Response(status=404)
        if spec.trigger == HTTP_TRIGGER:
            return _json({"error": "call HTTP functions at /api/{route}"}, 400)
        try:
            document = json.loads(await request.read() or b"{}")
        except ValueError:
            return _json({"error": "the body is not JSON"}, 400)
        raw_input = document.get("input", "") if isinstance(document, dict) else ""

        payload: dict[str, Any] = {"past_due": False}
        correlation_id = str(uuid.uuid4())
        if spec.trigger == EVENT_GRID_TRIGGER:
            try:
                payload = normalize_events(json.loads(raw_input))[0]
            except (ValueError, TypeError, EventFormatError):
                return _json(
                    {"error": "input must be an Event Grid event as JSON"}, 400
                )
            correlation_id = payload["id"]
        self.dispatcher.start_once(spec.name, payload, correlation_id, "admin")
        return web.Response(status=202)

    # -- local Event Grid topic -----------------------------------------------

    @staticmethod
    def _topic_error(status: int, code: str, message: str) -> web.Response:
        # The error body Event Grid's publish API returns.
        error: dict[str, Any] = {"code": code, "message": message}
        if status == 400:
            error = {
                "code": "BadRequest",
                "message": message,
                "details": [{"code": code, "message": message}],
            }
        return _json({"error": error}, status)

    async def handle_topic_publish(self, request: web.Request) -> web.Response:
        """``POST /runtime/topics/{topic}/api/events``: Event Grid's publish API.

        ``EventGridPublisherClient`` posts here with ``?api-version=2018-01-01``
        and the key in the ``aeg-sas-key`` header; CloudEvents arrive as
        ``application/cloudevents-batch+json``.
        """
        if not _key_matches(
            request.headers.get("aeg-sas-key", ""), [self.config.topic_key]
        ):
            return self._topic_error(
                401, "Unauthorized", "The request authorization key is not authorized"
            )
        try:
            body = json.loads(await request.read())
        except ValueError:
            return self._topic_error(400, "InputJsonInvalid", "The body is not JSON")
        cloud = "cloudevents" in request.content_type
        try:
            events = validate_topic_events(body, cloud_events=cloud)
        except EventFormatError as exc:
            return self._topic_error(400, "InputJsonInvalid", str(exc))
        self.topics.append(request.match_info["topic"], events)
        return web.Response(status=200)

    async def handle_topic_read(self, request: web.Request) -> web.Response:
        """``GET /runtime/topics/{topic}/events`` (master key): recorded events."""
        if not _key_matches(_presented_key(request), [self.config.master_key]):
            return _unauthorized()
        return _json(self.topics.events(request.match_info["topic"]))

    # -- status -----------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        """The document ``/runtime/status`` serves."""
        return {
            "state": self.state,
            "app": self.config.app,
            "functions": [spec.describe() for spec in self.functions.values()],
            "workers": {
                "count": self.dispatcher.pool.size,
                "threads": self.dispatcher.pool.threads,
                "pids": self.worker_pids,
                "restarts": self.dispatcher.pool.crashes,
            },
            "watcher": self.watcher.status()
            if self.watcher
            else {"enabled": False, "state": "disabled"},
            "timers": {
                "enabled": self.scheduler is not None,
                "functions": [
                    spec.name
                    for spec in self.functions.values()
                    if spec.trigger == TIMER_TRIGGER
                ],
            },
            "topics": self.topics.counts(),
            "counters": self.dispatcher.counters.to_json(),
            "inFlight": self.dispatcher.in_flight,
            "pendingRetries": self.dispatcher.pending_retries,
            "httpInFlight": self.http_in_flight,
        }

    async def handle_status(self, request: web.Request) -> web.Response:
        """``GET /runtime/status``: anonymous, but only from this machine."""
        if not _is_loopback(request):
            return web.Response(status=403)
        return _json(self.status())
