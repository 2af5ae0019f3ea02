"""PS3.15 Table E.1-1 and PS3.16 CID 7050, loaded once from the shipped JSON.

``e1_1.json`` and ``cid_7050.json`` are copies of ``shared/standards`` (2026d,
transcribed by PyMedPhys; NEMA copyright, see that folder's LICENSE-NEMA-DICOM).
They are read-only data: every action the engine takes on a listed attribute
comes from here, and the edition is recorded in each instance's provenance.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from importlib import resources
from types import MappingProxyType
from typing import Any

__all__ = [
    "CID_7050",
    "EDITION",
    "OPTION_CODES",
    "PRIVATE_ROW",
    "REPEATING_ROWS",
    "ROWS",
    "TABLE_OPTIONS",
    "Code",
    "Row",
]


@dataclass(frozen=True)
class Row:
    """One row of Table E.1-1.

    Parameters
    ----------
    name : str
        Attribute name as printed in the table.
    basic_profile : str
        The Basic Profile action code: ``D``, ``Z``, ``X``, ``K``, ``C``, ``U`` or
        a compound such as ``X/Z/D`` (PS3.15 E.3).
    options : Mapping[str, str]
        Action per profile option, keyed by the option's snake_case name.
    """

    name: str
    basic_profile: str
    options: MappingProxyType[str, str]


@dataclass(frozen=True)
class Code:
    """A coded entry (PS3.3 Table 8.8-1 Code Sequence Macro)."""

    code_value: str
    coding_scheme_designator: str
    code_meaning: str


_TAG = re.compile(r"\(([0-9A-Fx]{4}),([0-9A-Fx]{4})\)")

# Option names as the table spells them -> CID 7050 code meanings.
_OPTION_MEANINGS = {
    "basic_profile": "Basic Application Confidentiality Profile",
    "clean_pixel_data": "Clean Pixel Data Option",
    "clean_recognizable_visual_features": "Clean Recognizable Visual Features Option",
    "clean_graphics": "Clean Graphics Option",
    "clean_structured_content": "Clean Structured Content Option",
    "clean_descriptors": "Clean Descriptors Option",
    "retain_longitudinal_full_dates": (
        "Retain Longitudinal Temporal Information Full Dates Option"
    ),
    "retain_longitudinal_modified_dates": (
        "Retain Longitudinal Temporal Information Modified Dates Option"
    ),
    "retain_patient_characteristics": "Retain Patient Characteristics Option",
    "retain_device_identity": "Retain Device Identity Option",
    "retain_uids": "Retain UIDs Option",
    "retain_safe_private": "Retain Safe Private Option",
    "retain_institution_identity": "Retain Institution Identity Option",
}


def _load(name: str) -> Any:
    return json.loads(resources.files(__package__).joinpath(name).read_text("utf-8"))


def _build() -> tuple[
    str,
    dict[int, Row],
    tuple[tuple[int, int, Row], ...],
    Row,
    frozenset[str],
]:
    document = _load("e1_1.json")
    rows: dict[int, Row] = {}
    repeating: list[tuple[int, int, Row]] = []
    private: Row | None = None
    options: set[str] = set()
    for raw in document["rows"]:
        row = Row(
            name=raw["name"],
            basic_profile=raw["basic_profile"],
            options=MappingProxyType(dict(raw["options"])),
        )
        options.update(row.options)
        if raw["tag"].startswith("(gggg,eeee)"):
            private = row
            continue
        match = _TAG.fullmatch(raw["tag"])
        if match is None:
            raise ValueError(f"e1_1.json: unparsable tag in row {row.name}")
        group, element = match.groups()
        if "x" in group or "x" in element:
            # Repeating groups (PS3.5 7.6): 50xx and 60xx stand for the even groups
            # 5000-501E and 6000-601E; the mask keeps the fixed hex digits.
            mask = int("".join("0" if c == "x" else "F" for c in group + element), 16)
            value = int((group + element).replace("x", "0"), 16)
            repeating.append((mask, value, row))
        else:
            rows[int(group + element, 16)] = row
    if private is None:
        raise ValueError("e1_1.json: no Private Attributes row")
    return document["edition"], rows, tuple(repeating), private, frozenset(options)


EDITION, ROWS, REPEATING_ROWS, PRIVATE_ROW, TABLE_OPTIONS = _build()


def _build_codes() -> tuple[str, dict[str, Code]]:
    document = _load("cid_7050.json")
    by_meaning = {
        row["code_meaning"]: Code(
            row["code_value"], row["scheme_designator"], row["code_meaning"]
        )
        for row in document["rows"]
    }
    return document["edition"], {
        option: by_meaning[meaning] for option, meaning in _OPTION_MEANINGS.items()
    }


CID_7050, OPTION_CODES = _build_codes()
