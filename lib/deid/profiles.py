"""Named de-identification profiles: the Basic Profile plus chosen options.

A profile is a TOML file in ``lib/deid/profiles/``; its file name is its name and
``MEDLAKE_DEID_PROFILE`` selects one (default ``research``). Profiles are checked
when loaded, so a typo in an option fails at start-up, not on the first upload.
"""

from __future__ import annotations

import string
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from lib.deid.table import TABLE_OPTIONS

__all__ = [
    "DEFAULT_PROFILE",
    "OPTIONS",
    "PIXEL_OPTIONS",
    "PROFILE_NAMES",
    "Profile",
    "load_profile",
    "profile_from_mapping",
]

DEFAULT_PROFILE = "research"

# Options that need a pixel cleaner (the inference stage provides it); the engine
# refuses a profile naming them unless one is passed (see ``PixelCleaner``).
PIXEL_OPTIONS = frozenset({"clean_pixel_data", "clean_recognizable_visual_features"})

# Every option of PS3.15 E.3 that Table E.1-1 has a column for, plus the two
# pixel options, in the order the standard lists them.
OPTIONS: tuple[str, ...] = (
    "clean_pixel_data",
    "clean_recognizable_visual_features",
    "clean_graphics",
    "clean_structured_content",
    "clean_descriptors",
    "retain_longitudinal_full_dates",
    "retain_longitudinal_modified_dates",
    "retain_patient_characteristics",
    "retain_device_identity",
    "retain_institution_identity",
    "retain_uids",
    "retain_safe_private",
)
assert set(OPTIONS) >= TABLE_OPTIONS, "e1_1.json has an option OPTIONS lacks"

DEFAULT_PSEUDONYM_FORMAT = "ML{digest:.16}"
# PS3.5 Table 6.2-1: LO holds 64 characters; a PN component group 64 too.
MAX_PSEUDONYM_CHARS = 64
DEFAULT_MAX_DATE_SHIFT_DAYS = 3652

_PROFILE_SUFFIX = ".toml"
_KNOWN_KEYS = {
    "description",
    "options",
    "pseudonyms",
    "dates",
    "quarantine",
}


@dataclass(frozen=True)
class Profile:
    """A de-identification profile, valid from construction.

    Parameters
    ----------
    name : str
        Profile name, recorded in the provenance.
    options : frozenset[str]
        PS3.15 E.3 options applied on top of the Basic Profile.
    description : str
        One line for humans.
    patient_id_format, patient_name_format : str
        ``str.format`` templates for the pseudonymous Patient ID and Patient's
        Name; ``{digest}`` is 64 upper-case hex digits of the keyed hash.
        ``patient_name_format = ""`` empties Patient's Name (Table E.1-1: Z).
    max_date_shift_days : int
        Dates move back by 1 to this many days, the same for every date of a
        patient (Retain Longitudinal Temporal Information with Modified Dates).
    allowed_sop_classes : frozenset[str]
        SOP Class UIDs normally quarantined as uncleanable that this profile
        explicitly lets through.
    allow_burned_in_annotation : bool
        Let instances with Burned In Annotation YES through without pixel
        cleaning (they are quarantined otherwise).
    """

    name: str
    options: frozenset[str]
    description: str = ""
    patient_id_format: str = DEFAULT_PSEUDONYM_FORMAT
    patient_name_format: str = DEFAULT_PSEUDONYM_FORMAT
    max_date_shift_days: int = DEFAULT_MAX_DATE_SHIFT_DAYS
    allowed_sop_classes: frozenset[str] = field(default_factory=frozenset)
    allow_burned_in_annotation: bool = False

    def __post_init__(self) -> None:
        unknown = sorted(set(self.options) - set(OPTIONS))
        if unknown:
            raise ValueError(
                f"profile {self.name}: unknown option(s) {', '.join(unknown)}; "
                f"known: {', '.join(OPTIONS)}"
            )
        if {
            "retain_longitudinal_full_dates",
            "retain_longitudinal_modified_dates",
        } <= self.options:
            raise ValueError(
                f"profile {self.name}: retain_longitudinal_full_dates and "
                "retain_longitudinal_modified_dates exclude each other (PS3.15 E.3.6)"
            )
        _check_pseudonym_format(self.name, "patient_id", self.patient_id_format)
        if self.patient_name_format:
            _check_pseudonym_format(self.name, "patient_name", self.patient_name_format)
        if not 1 <= self.max_date_shift_days <= 36500:
            raise ValueError(
                f"profile {self.name}: dates.max_shift_days must be 1 to 36500"
            )

    def has(self, option: str) -> bool:
        """Whether ``option`` is applied."""
        return option in self.options

    @property
    def ordered_options(self) -> tuple[str, ...]:
        """The applied options in the order PS3.15 E.3 lists them."""
        return tuple(option for option in OPTIONS if option in self.options)


def _check_pseudonym_format(profile: str, what: str, template: str) -> None:
    fields = {
        name for _, name, _, _ in string.Formatter().parse(template) if name is not None
    }
    if fields != {"digest"}:
        raise ValueError(
            f"profile {profile}: pseudonyms.{what} must use exactly the field "
            "{digest}"
        )
    try:
        sample = template.format(digest="F" * 64)
    except (ValueError, IndexError, KeyError) as exc:
        raise ValueError(f"profile {profile}: pseudonyms.{what}: {exc}") from exc
    if not sample or len(sample) > MAX_PSEUDONYM_CHARS or "\\" in sample:
        raise ValueError(
            f"profile {profile}: pseudonyms.{what} must give 1 to "
            f"{MAX_PSEUDONYM_CHARS} characters without a backslash"
        )
    if not sample.isascii() or not sample.isprintable() or "^" in sample:
        raise ValueError(
            f"profile {profile}: pseudonyms.{what} must be printable ASCII "
            "without ^ (valid in every character set)"
        )


def profile_from_mapping(name: str, document: Mapping[str, Any]) -> Profile:
    """Build a profile from a parsed TOML document.

    Raises
    ------
    ValueError
        The document has unknown keys, unknown options or invalid values; the
        message names the profile and the key.
    """
    unknown = sorted(set(document) - _KNOWN_KEYS)
    if unknown:
        raise ValueError(f"profile {name}: unknown key(s) {', '.join(unknown)}")
    options = document.get("options", [])
    if not isinstance(options, list) or not all(isinstance(o, str) for o in options):
        raise ValueError(f"profile {name}: options must be a list of option names")
    pseudonyms = document.get("pseudonyms", {})
    dates = document.get("dates", {})
    quarantine = document.get("quarantine", {})
    try:
        return Profile(
            name=name,
            options=frozenset(options),
            description=str(document.get("description", "")),
            patient_id_format=str(
                pseudonyms.get("patient_id", DEFAULT_PSEUDONYM_FORMAT)
            ),
            patient_name_format=str(
                pseudonyms.get("patient_name", DEFAULT_PSEUDONYM_FORMAT)
            ),
            max_date_shift_days=int(
                dates.get("max_shift_days", DEFAULT_MAX_DATE_SHIFT_DAYS)
            ),
            allowed_sop_classes=frozenset(quarantine.get("allowed_sop_classes", [])),
            allow_burned_in_annotation=bool(
                quarantine.get("allow_burned_in_annotation", False)
            ),
        )
    except (TypeError, AttributeError) as exc:
        raise ValueError(f"profile {name}: malformed section ({exc})") from exc


def _profile_files() -> dict[str, Any]:
    folder = resources.files(__package__).joinpath("profiles")
    return {
        entry.name.removesuffix(_PROFILE_SUFFIX): entry
        for entry in folder.iterdir()
        if entry.name.endswith(_PROFILE_SUFFIX)
    }


PROFILE_NAMES: tuple[str, ...] = tuple(sorted(_profile_files()))


def load_profile(name: str) -> Profile:
    """Load the named profile from ``lib/deid/profiles/NAME.toml``.

    Raises
    ------
    ValueError
        No such profile (the message lists the known ones) or it is invalid.
    """
    files = _profile_files()
    if name not in files:
        raise ValueError(
            f"unknown de-identification profile {name!r}; "
            f"known: {', '.join(PROFILE_NAMES)}"
        )
    try:
        document = tomllib.loads(files[name].read_text("utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"profile {name}: not valid TOML ({exc})") from exc
    return profile_from_mapping(name, document)
