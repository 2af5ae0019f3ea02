"""What happens to each attribute: Table E.1-1 resolved for one profile.

The table's codes (PS3.15 E.3) become one ``Action`` per (tag, VR), computed
once per profile and cached, so the rewriter does a dictionary lookup per
element. The rules beyond the table are Medlake's and are documented in
``docs/deidentification.md``:

* compound codes resolve to the least destructive code that keeps the object
  valid, because the attribute's type in the IOD is mostly not known here:
  ``X/Z`` -> ``Z``, ``X/D`` -> ``D``, ``Z/D`` -> ``D``, ``X/Z/D`` -> ``D``,
  ``X/Z/U*`` -> ``U*`` (PS3.15 E.3.1 allows the stricter codes only where the
  IOD permits); attributes known to be Type 3 everywhere resolve ``X/Z`` to X;
* when several applied options name an attribute, ``K`` wins over ``C``;
* attributes outside the table follow ``default_action`` (remove free text,
  keep codes, numbers and binary data, replace non-registered UIDs).
"""

from __future__ import annotations

from enum import IntEnum

from lib.deid.keep_list import CLASS_UID_KEYWORDS, KEEP_KEYWORDS, keep_tags
from lib.deid.profiles import Profile
from lib.deid.table import REPEATING_ROWS, ROWS, Row

__all__ = [
    "BINARY_VRS",
    "NUMERIC_VRS",
    "PROVENANCE_TAGS",
    "TEXT_VRS",
    "Action",
    "ActionTable",
    "resolve_compound",
]


class Action(IntEnum):
    """What the rewriter does with one element."""

    KEEP = 0
    REMOVE = 1  # X
    EMPTY = 2  # Z: zero length
    DUMMY = 3  # D: a dummy value valid for the VR
    REPLACE_UID = 4  # U: keyed pseudonym
    CLEAN_TEXT = 5  # C on text: identifiers of the same object scrubbed out
    SHIFT_DATE = 6  # C on DA/DT under the modified dates option
    RECURSE = 7  # sequence kept, every item de-identified by the same rules
    PSEUDONYM_PATIENT_ID = 8
    PSEUDONYM_PATIENT_NAME = 9
    UID_UNLESS_REGISTERED = 10  # outside the table: keep only registered UIDs


TEXT_VRS = frozenset({"AE", "AS", "LO", "LT", "SH", "ST", "UC", "UR", "UT", "PN"})
NUMERIC_VRS = frozenset({"DS", "FD", "FL", "IS", "SL", "SS", "SV", "UL", "US", "UV"})
BINARY_VRS = frozenset({"OB", "OD", "OF", "OL", "OV", "OW"})
DATE_VRS = frozenset({"DA", "DT"})

PATIENT_ID = 0x00100020
PATIENT_NAME = 0x00100010
TEXT_VALUE = 0x0040A160
UNFORMATTED_TEXT_VALUE = 0x00700006

# Written by the engine (PS3.15 E.1.1, PS3.3 C.12.1): any input copies go.
PROVENANCE_TAGS = frozenset(
    {
        0x00120062,  # Patient Identity Removed
        0x00120063,  # De-identification Method
        0x00120064,  # De-identification Method Code Sequence
        0x00280303,  # Longitudinal Temporal Information Modified
    }
)

# Medlake's additions to Table E.1-1, in the table's own form. Text Value
# (0040,A160) is not in the table although SR TEXT items carry free text; basic
# gives it a dummy (the item stays valid, PS3.3 C.17.3), Clean Structured
# Content scrubs it. Unformatted Text Value is also cleaned by Clean Graphics,
# since it is the text of a graphic annotation (PS3.3 C.10.5).
_EXTENSION_ROWS = {
    TEXT_VALUE: {"basic": "D", "clean_structured_content": "C"},
    UNFORMATTED_TEXT_VALUE: {"clean_graphics": "C"},
}

# What is known of attribute types (PS3.3): attributes that are Type 3 in every
# IOD that has them, so X/Z resolves to X (an empty Type 3 sequence is invalid,
# PS3.5 7.5.3 requires its items). Extend as IODs are checked with dciodvfy.
TYPE_3_EVERYWHERE = frozenset(
    {
        0x00081110,  # Referenced Study Sequence (General Study Module, C.7.2.1)
    }
)

_KEEP_TAGS = keep_tags(KEEP_KEYWORDS)
_CLASS_UID_TAGS = keep_tags(CLASS_UID_KEYWORDS)
_OVERLAY_MASK, _OVERLAY_GROUPS = 0xFF010000, 0x60000000
_CURVE_MASK, _CURVE_GROUPS = 0xFF010000, 0x50000000


def resolve_compound(code: str) -> str:
    """Resolve a compound code (``X/Z/D``) to one code.

    The last code is the least destructive and valid whatever the attribute's
    type: Z for type 2, D for type 1 (PS3.15 E.3.1). ``U*`` means the UIDs inside
    a sequence are replaced; for a sequence that is recursion.
    """
    return code.rsplit("/", 1)[-1].rstrip("*")


class ActionTable:
    """The action for any (tag, VR) under one profile, computed once.

    Parameters
    ----------
    profile : Profile
        The profile whose options modify the Basic Profile.
    """

    def __init__(self, profile: Profile) -> None:
        self.profile = profile
        self._cache: dict[tuple[int, str], Action] = {}

    def action(self, tag: int, vr: str) -> Action:
        """The action for a public (even group) element ``tag`` encoded as ``vr``."""
        key = (tag, vr)
        found = self._cache.get(key)
        if found is None:
            found = self._cache[key] = self._compute(tag, vr)
        return found

    def _compute(self, tag: int, vr: str) -> Action:
        profile = self.profile
        if tag in PROVENANCE_TAGS or tag & 0xFFFF == 0 or tag >> 16 >= 0xFFFA:
            # Group lengths are retired in datasets (PS3.5 7.2) and would be
            # wrong after rewriting; signatures and padding cannot survive it.
            return Action.REMOVE
        if tag & _OVERLAY_MASK == _OVERLAY_GROUPS:
            # Overlay planes (60xx) go whole: Overlay Data is X in the Basic
            # Profile and its bitmap may hold burned-in text that Clean Graphics
            # cannot read without a pixel cleaner; keeping Overlay Rows and the
            # like without the data would break the Overlay Plane Module
            # (PS3.3 C.9.2).
            return Action.REMOVE
        if tag == PATIENT_ID:
            return Action.PSEUDONYM_PATIENT_ID
        if tag == PATIENT_NAME and profile.patient_name_format:
            return Action.PSEUDONYM_PATIENT_NAME
        if tag in _EXTENSION_ROWS:
            return self._from_code(self._extension_code(tag), tag, vr, "")

        row = ROWS.get(tag)
        if row is None and tag & _CURVE_MASK == _CURVE_GROUPS:
            row = next(r for m, v, r in REPEATING_ROWS if v == _CURVE_GROUPS)
        if row is not None:
            code, option = self._row_code(row)
            if row.basic_profile == "X/Z" and not option and tag in TYPE_3_EVERYWHERE:
                code = "X"
            return self._from_code(code, tag, vr, option)
        return self.default_action(tag, vr)

    def _row_code(self, row: Row) -> tuple[str, str]:
        chosen = {
            code: option
            for option, code in row.options.items()
            if option in self.profile.options
        }
        for code in ("K", "C"):
            if code in chosen:
                return code, chosen[code]
        return resolve_compound(row.basic_profile), ""

    def _extension_code(self, tag: int) -> str:
        rule = _EXTENSION_ROWS[tag]
        for option, code in rule.items():
            if option != "basic" and option in self.profile.options:
                return code
        if "basic" in rule:
            return rule["basic"]
        row = ROWS[tag]
        return self._row_code(row)[0]

    def _from_code(self, code: str, tag: int, vr: str, option: str) -> Action:
        if code == "K":
            return Action.RECURSE if vr == "SQ" else Action.KEEP
        if code == "X":
            return Action.REMOVE
        if code == "Z":
            return Action.EMPTY
        if vr == "SQ":
            # D, U* and C on a sequence: keep its structure and de-identify every
            # item with the same rules, which keeps type 1 sequences valid.
            return Action.RECURSE
        if code == "U" or vr == "UI":
            return Action.REPLACE_UID
        if code == "D":
            return Action.DUMMY
        # code == "C"
        if option == "retain_longitudinal_modified_dates" or vr in DATE_VRS:
            if vr in DATE_VRS:
                return Action.SHIFT_DATE
            # Whole-day shifts leave times of day unchanged (PS3.15 E.3.6).
            return Action.KEEP if vr == "TM" else Action.REMOVE
        if vr in TEXT_VRS and vr != "PN":
            return Action.CLEAN_TEXT
        if vr in NUMERIC_VRS or vr == "CS":
            return Action.KEEP
        # Binary blobs (Maker Note, Device Setting Description) cannot be
        # cleaned without knowing their private format: removed.
        return Action.REMOVE

    def default_action(self, tag: int, vr: str) -> Action:
        """The action for a public attribute outside Table E.1-1.

        Keep-listed attributes are kept; otherwise the VR decides: sequences are
        recursed, codes, numbers, tags and binary data are kept, UIDs are kept
        only when registered in PS3.6 Annex A, dates follow the date options and
        free text, person names and unknown (UN) attributes are removed.
        """
        profile = self.profile
        if tag in _KEEP_TAGS or tag in _CLASS_UID_TAGS:
            return Action.RECURSE if vr == "SQ" else Action.KEEP
        if vr == "SQ":
            return Action.RECURSE
        if vr == "UI":
            if profile.has("retain_uids"):
                return Action.KEEP
            return Action.UID_UNLESS_REGISTERED
        if vr in DATE_VRS:
            if profile.has("retain_longitudinal_full_dates"):
                return Action.KEEP
            if profile.has("retain_longitudinal_modified_dates"):
                return Action.SHIFT_DATE
            return Action.REMOVE
        if vr == "TM":
            dates_kept = profile.has("retain_longitudinal_full_dates") or profile.has(
                "retain_longitudinal_modified_dates"
            )
            return Action.KEEP if dates_kept else Action.REMOVE
        if vr in NUMERIC_VRS or vr in BINARY_VRS or vr in ("CS", "AT"):
            return Action.KEEP
        return Action.REMOVE
