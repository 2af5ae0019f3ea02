"""The Power BI model in powerbi/ matches the Delta tables it reads."""

from __future__ import annotations

import re

import pyarrow as pa
import pytest

from lib.lake import TABLES
from tests.lib.lake.tmdl import DEFINITION, SemanticModel, parse_model

# The app roles of the security model (ARCHITECTURE.md, "Security model").
APP_ROLES = {
    "Imaging.Read",
    "Imaging.ReadIdentified",
    "Imaging.Upload",
    "Analytics.View",
    "Imaging.Admin",
}
CALCULATED = {"Date", "Models"}
_COLUMN_REFERENCE = re.compile(r"(?:'([^']+)'|\b(\w+))\[([^\]]+)\]")
_MEASURE_REFERENCE = re.compile(r"(?<![\w'\]])\[([^\]]+)\]")


@pytest.fixture(scope="module")
def model() -> SemanticModel:
    return parse_model()


def tmdl_type(data_type: pa.DataType) -> str:
    if pa.types.is_string(data_type):
        return "string"
    if pa.types.is_integer(data_type):
        return "int64"
    if pa.types.is_floating(data_type):
        return "double"
    return "dateTime"  # date32 and timestamp


def test_every_delta_table_is_in_the_model_and_nothing_else(
    model: SemanticModel,
) -> None:
    assert set(model.tables) == set(TABLES) | CALCULATED


@pytest.mark.parametrize("name", sorted(TABLES))
def test_table_reads_its_delta_folder_and_every_column_exists(
    model: SemanticModel, name: str
) -> None:
    table = model.tables[name]
    schema = TABLES[name].schema

    assert table.partition_kind == "m"
    assert f'"/tables/{name}"' in table.partition_source
    assert "DeltaLake.Table(" in table.partition_source
    sources = {c.name: c.source_column for c in table.columns.values()}
    assert sources == {field.name: field.name for field in schema}
    for field in schema:
        assert table.columns[field.name].data_type == tmdl_type(field.type), field.name


def test_every_dax_reference_names_a_column_or_measure_that_exists(
    model: SemanticModel,
) -> None:
    measures = {m for t in model.tables.values() for m in t.measures}
    expressions = model.dax_expressions()
    assert len(expressions) >= 12

    for expression in expressions:
        for quoted, bare, column in _COLUMN_REFERENCE.findall(expression):
            table = quoted or bare
            assert table in model.tables, f"{table} in {expression}"
            assert column in model.tables[table].columns, f"{table}[{column}]"
        for name in _MEASURE_REFERENCE.findall(expression):
            assert name in measures, f"[{name}] in {expression}"


def test_relationships_join_existing_columns_of_the_same_type(
    model: SemanticModel,
) -> None:
    assert len(model.relationships) >= 8
    for from_table, from_column, to_table, to_column in model.relationships:
        source = model.tables[from_table].columns[from_column]
        target = model.tables[to_table].columns[to_column]
        assert source.data_type == target.data_type, (from_table, from_column)


def test_measures_the_issue_names_exist(model: SemanticModel) -> None:
    measures = {m for t in model.tables.values() for m in t.measures}

    assert {
        "Studies per day",
        "Rejection rate",
        "Finding rate",
        "Latency p50 (ms)",
        "Latency p95 (ms)",
    } <= measures


def test_roles_are_app_roles_and_hide_the_audit_trail_from_analysts(
    model: SemanticModel,
) -> None:
    assert set(model.roles) <= APP_ROLES
    assert {"Analytics.View", "Imaging.Admin"} <= set(model.roles)
    # The lake holds no identified data, so the role that reads originals has
    # no business in the model.
    assert "Imaging.ReadIdentified" not in model.roles
    for permissions in model.roles.values():
        assert set(permissions) <= set(model.tables)
    assert model.roles["Analytics.View"]["audit"] == "FALSE()"
    assert "audit" not in model.roles["Imaging.Admin"]


def test_model_file_references_every_table_and_role(model: SemanticModel) -> None:
    text = (DEFINITION / "model.tmdl").read_text()

    for table in model.tables:
        assert f"ref table {table}\n" in text
    for role in model.roles:
        assert f"ref role '{role}'\n" in text
