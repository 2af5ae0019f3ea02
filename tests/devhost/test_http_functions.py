"""HTTP-triggered functions over real sockets: routing, methods, auth, errors."""

from __future__ import annotations

import pytest

from tests.support.devhost import DevHost


def test_passes_route_params_query_headers_and_body(sample_host: DevHost) -> None:
    response = sample_host.request(
        "PUT",
        "/api/items/42/red",
        params={"colour": "red"},
        headers={"x-sample-header": "present"},
        body=b"12345",
    )

    assert response.status == 200
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    assert response.json() == {
        "function": "get_item",
        "method": "PUT",
        "route_params": {"item_id": "42", "label": "red"},
        "params": {"colour": "red"},
        "body_length": 5,
        "header": "present",
    }


@pytest.mark.parametrize(
    ("path", "function", "route_params"),
    [
        ("/api/items/42", "get_item", {"item_id": "42"}),
        ("/api/items/latest", "latest_item", None),
        ("/api/names/Ada", "by_name", {"name": "Ada"}),
        ("/api/codes/ABC", "by_code", {"code": "ABC"}),
        ("/api/files/a/b%20c.dcm", "files", {"path": "a/b c.dcm"}),
        ("/api/async/Ada", "async_greeting", {"name": "Ada"}),
    ],
    ids=["optional-absent", "literal-wins", "alpha", "regex", "catch-all", "async"],
)
def test_routes_to_matching_function(
    sample_host: DevHost,
    path: str,
    function: str,
    route_params: dict[str, str] | None,
) -> None:
    response = sample_host.request("GET", path)

    assert response.status == 200
    assert response.json()["function"] == function
    if route_params is not None:
        assert response.json()["route_params"] == route_params


@pytest.mark.parametrize(
    "path",
    ["/api/items/seven", "/api/names/Ada1", "/api/codes/ABCD", "/api/nowhere"],
    ids=["int-constraint", "alpha-constraint", "regex-constraint", "unknown-route"],
)
def test_answers_404_when_no_route_matches(sample_host: DevHost, path: str) -> None:
    assert sample_host.request("GET", path).status == 404


def test_answers_405_with_allowed_methods(sample_host: DevHost) -> None:
    response = sample_host.request("DELETE", "/api/items/42")

    assert response.status == 405
    assert response.headers["allow"] == "GET, PUT"


def test_maps_status_headers_and_mimetype(sample_host: DevHost) -> None:
    response = sample_host.request("POST", "/api/echo", body=b"\x00\x01binary")

    assert response.status == 201
    assert response.headers["x-echo"] == "yes"
    assert response.headers["content-type"] == "application/octet-stream"
    assert response.body == b"\x00\x01binary"


@pytest.mark.parametrize(
    ("path", "key_in", "key", "status"),
    [
        ("/api/secure/function", None, None, 401),
        ("/api/secure/function", "query", "wrong", 401),
        ("/api/secure/function", "query", "function", 200),
        ("/api/secure/function", "header", "function", 200),
        ("/api/secure/function", "header", "master", 200),
        ("/api/secure/admin", "header", "function", 401),
        ("/api/secure/admin", "query", "master", 200),
    ],
    ids=[
        "function-no-key",
        "function-wrong-key",
        "function-key-in-query",
        "function-key-in-header",
        "function-master-key",
        "admin-refuses-function-key",
        "admin-master-key",
    ],
)
def test_enforces_auth_levels(
    sample_host: DevHost, path: str, key_in: str | None, key: str | None, status: int
) -> None:
    value = {"function": sample_host.function_key, "master": sample_host.master_key}
    secret = value.get(key or "", key or "")
    params = {"code": secret} if key_in == "query" else None
    headers = {"x-functions-key": secret} if key_in == "header" else None

    response = sample_host.request("GET", path, params=params, headers=headers)

    assert response.status == status


def test_unhandled_exception_is_500_without_echoing_the_body(
    sample_host: DevHost,
) -> None:
    secret = "DOE^JANE-0451"

    response = sample_host.request("POST", "/api/boom", body=secret)

    assert response.status == 500
    document = response.json()
    assert document["error"] == "internal_error"
    assert secret not in response.body.decode()
    log = sample_host.log_text()
    assert f"correlation_id={document['correlationId']}" in log
    assert "RuntimeError: sample failure" in log
    assert secret not in log


def test_request_log_lines_leave_out_paths_and_queries(sample_host: DevHost) -> None:
    sample_host.request("GET", "/api/names/Smithson", params={"q": "Hypatia"})

    log = sample_host.log_text()
    assert "http function=by_name method=GET status=200" in log
    assert "Smithson" not in log
    assert "Hypatia" not in log
