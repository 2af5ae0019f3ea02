"""Route templates, matched like the Functions host's ASP.NET Core routing."""

from __future__ import annotations

import pytest

from devhost.routing import RouteError, RouteTable, RouteTemplate


@pytest.mark.parametrize(
    ("template", "path", "expected"),
    [
        ("items/{id}", "items/7", {"id": "7"}),
        ("items/{id}", "ITEMS/7", {"id": "7"}),
        ("items/{id:int}", "items/-7", {"id": "-7"}),
        ("items/{id:int}", "items/seven", None),
        ("items/{id:int}/{label?}", "items/7", {"id": "7"}),
        ("items/{id:int}/{label?}", "items/7/red", {"id": "7", "label": "red"}),
        ("names/{name:alpha}", "names/Ada", {"name": "Ada"}),
        ("names/{name:alpha}", "names/Ada1", None),
        ("codes/{c:regex(^[A-Z]{{3}}$)}", "codes/ABC", {"c": "ABC"}),
        ("codes/{c:regex(^[A-Z]{{3}}$)}", "codes/ABCD", None),
        ("n/{n:range(1,5)}", "n/5", {"n": "5"}),
        ("n/{n:range(1,5)}", "n/6", None),
        ("n/{s:minlength(2):maxlength(3)}", "n/abcd", None),
        (
            "g/{id:guid}",
            "g/6f1c2d52-3bb4-4c1f-9e8b-2f9a4c1d0e11",
            {"id": "6f1c2d52-3bb4-4c1f-9e8b-2f9a4c1d0e11"},
        ),
        ("files/{*rest}", "files/a/b%20c.dcm", {"rest": "a/b c.dcm"}),
        ("files/{*rest}", "files", {}),
        ("f/{stem}.{ext}", "f/scan.dcm", {"stem": "scan", "ext": "dcm"}),
    ],
    ids=[
        "plain",
        "case-insensitive-literal",
        "int",
        "int-rejects-word",
        "optional-absent",
        "optional-present",
        "alpha",
        "alpha-rejects-digit",
        "regex",
        "regex-rejects",
        "range-inclusive",
        "range-rejects",
        "length-chain",
        "guid",
        "catch-all-decoded",
        "catch-all-empty",
        "two-parameters-in-segment",
    ],
)
def test_matches_route_templates(
    template: str, path: str, expected: dict[str, str] | None
) -> None:
    assert RouteTemplate(template).match(path) == expected


def test_literal_route_wins_over_parameter() -> None:
    table = RouteTable.build([("items/{id}", "by-id"), ("items/latest", "latest")])

    targets = [target for target, _ in table.match("items/latest")]

    assert targets == ["latest", "by-id"]


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("items/{id:frobnicate}", "'frobnicate' is not supported"),
        ("items/{id", "unclosed"),
        ("{rest?}/items", "must be in the last segment"),
        ("{a}/{a}", "appears twice"),
    ],
    ids=["unknown-constraint", "unclosed-brace", "optional-not-last", "duplicate"],
)
def test_rejects_malformed_templates(template: str, message: str) -> None:
    with pytest.raises(RouteError, match=message):
        RouteTemplate(template)
