"""The dev host serves the real Function App."""

from __future__ import annotations

from tests.support.devhost import DevHost, running_devhost


def test_serves_the_function_app(devhost_env: dict[str, str]) -> None:
    with running_devhost(devhost_env, watch=False) as host:
        functions = {f["name"]: f for f in host.status()["functions"]}
        health = host.request("GET", "/api/health")

    assert health.status == 200
    assert health.json() == {"status": "ok"}
    assert functions["health"] == {
        "name": "health",
        "trigger": "httpTrigger",
        "route": "health",
        "methods": ["GET"],
        "authLevel": "anonymous",
    }
    assert functions["ingest_blob_created"]["trigger"] == "eventGridTrigger"


def test_reports_the_sample_app_functions(sample_host: DevHost) -> None:
    status = sample_host.status()

    functions = {f["name"]: f for f in status["functions"]}

    assert functions["record_event"]["trigger"] == "eventGridTrigger"
    assert functions["yearly_marker"] == {
        "name": "yearly_marker",
        "trigger": "timerTrigger",
        "schedule": "0 0 0 1 1 *",
    }
    assert functions["files"]["methods"] == [
        "GET",
        "POST",
        "PUT",
        "PATCH",
        "DELETE",
        "HEAD",
        "OPTIONS",
    ]
    assert status["workers"]["count"] == 2
    assert status["watcher"] == {"enabled": False, "state": "disabled"}
