"""A small reader for the TMDL files in ``powerbi/`` (what the tests need).

TMDL is indentation-based (tabs): ``table NAME`` opens a table; under it
``column``, ``measure`` and ``partition`` objects, whose properties are one tab
deeper. Only the parts the checks use are parsed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

DEFINITION = (
    Path(__file__).resolve().parents[3]
    / "powerbi"
    / "Medlake.SemanticModel"
    / "definition"
)

_NAME = r"(?:'(?P<q>[^']+)'|(?P<n>[\w.]+))"


def _name(match: re.Match[str]) -> str:
    return match.group("q") or match.group("n")


@dataclass
class Column:
    name: str
    data_type: str = ""
    source_column: str = ""
    expression: str = ""


@dataclass
class Table:
    name: str
    columns: dict[str, Column] = field(default_factory=dict)
    measures: dict[str, str] = field(default_factory=dict)
    partition_kind: str = ""
    partition_source: str = ""


@dataclass
class SemanticModel:
    tables: dict[str, Table]
    relationships: list[tuple[str, str, str, str]]
    roles: dict[str, dict[str, str]]

    def dax_expressions(self) -> list[str]:
        found: list[str] = []
        for table in self.tables.values():
            found += table.measures.values()
            found += [c.expression for c in table.columns.values() if c.expression]
            if table.partition_kind == "calculated":
                found.append(table.partition_source)
        for permissions in self.roles.values():
            found += permissions.values()
        return found


def _depth(line: str) -> int:
    return len(line) - len(line.lstrip("\t"))


def parse_table(text: str) -> Table:
    table: Table | None = None
    current: Column | None = None
    in_source = False
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("///"):
            continue
        depth = _depth(line)
        if depth == 0:
            match = re.match(rf"table {_NAME}$", stripped)
            assert match, f"not a table declaration: {stripped}"
            table = Table(_name(match))
            continue
        assert table is not None
        if depth == 1:
            in_source, current = False, None
            if match := re.match(rf"column {_NAME}(?: = (?P<expr>.+))?$", stripped):
                current = Column(_name(match), expression=match.group("expr") or "")
                table.columns[current.name] = current
            elif match := re.match(rf"measure {_NAME} = (?P<expr>.+)$", stripped):
                table.measures[_name(match)] = match.group("expr")
            elif match := re.match(rf"partition {_NAME} = (?P<kind>\w+)$", stripped):
                table.partition_kind = match.group("kind")
            continue
        if in_source:
            table.partition_source += "\n" + stripped
        elif current is not None and stripped.startswith("dataType:"):
            current.data_type = stripped.split(":", 1)[1].strip()
        elif current is not None and stripped.startswith("sourceColumn:"):
            current.source_column = stripped.split(":", 1)[1].strip()
        elif stripped.startswith("source ="):
            table.partition_source = stripped.removeprefix("source =").strip()
            in_source = True
    assert table is not None
    return table


def parse_model(definition: Path = DEFINITION) -> SemanticModel:
    tables = {}
    for path in sorted((definition / "tables").glob("*.tmdl")):
        table = parse_table(path.read_text())
        tables[table.name] = table

    relationships = []
    text = (definition / "relationships.tmdl").read_text()
    for block in re.split(r"\n(?=relationship )", text):
        ends = dict(re.findall(r"\t(fromColumn|toColumn): (.+)", block))
        if ends:
            from_table, from_column = ends["fromColumn"].split(".", 1)
            to_table, to_column = ends["toColumn"].split(".", 1)
            relationships.append((from_table, from_column, to_table, to_column))

    roles: dict[str, dict[str, str]] = {}
    for path in sorted((definition / "roles").glob("*.tmdl")):
        text = path.read_text()
        match = re.search(rf"^role {_NAME}$", text, re.MULTILINE)
        assert match, f"{path.name}: no role declaration"
        roles[_name(match)] = dict(
            re.findall(r"^\ttablePermission (\w+) = (.+)$", text, re.MULTILINE)
        )
    return SemanticModel(tables, relationships, roles)
