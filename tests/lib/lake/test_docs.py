"""docs/tables.md documents every column of every table, with its type."""

from __future__ import annotations

import re
from pathlib import Path

import pyarrow as pa
import pytest

from lib.lake import TABLES

DOC = Path(__file__).resolve().parents[3] / "docs" / "tables.md"


def delta_type(data_type: pa.DataType) -> str:
    if pa.types.is_string(data_type):
        return "string"
    if pa.types.is_int32(data_type):
        return "int"
    if pa.types.is_int64(data_type):
        return "long"
    if pa.types.is_float64(data_type):
        return "double"
    if pa.types.is_date32(data_type):
        return "date"
    if pa.types.is_timestamp(data_type):
        return "timestamp"
    raise AssertionError(f"no Delta name for {data_type}")


def documented_columns() -> dict[str, dict[str, str]]:
    tables: dict[str, dict[str, str]] = {}
    current: dict[str, str] | None = None
    for line in DOC.read_text().splitlines():
        heading = re.match(r"^## `(\w+)`$", line)
        if heading:
            current = tables.setdefault(heading.group(1), {})
            continue
        if line.startswith("## "):
            current = None
        row = re.match(r"^\| `(\w+)` \| (\w+) \|", line)
        if current is not None and row:
            current[row.group(1)] = row.group(2)
    return tables


@pytest.mark.parametrize("name", sorted(TABLES))
def test_every_column_is_documented_with_its_type(name: str) -> None:
    schema = TABLES[name].schema
    expected = {field.name: delta_type(field.type) for field in schema}

    assert documented_columns().get(name) == expected


def test_no_table_is_documented_that_does_not_exist() -> None:
    assert set(documented_columns()) == set(TABLES)
