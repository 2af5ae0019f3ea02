"""Keys from settings, and profiles from configuration.

Key Vault is covered by the contract tests in ``test_keyvault_contract.py``.
"""

from __future__ import annotations

import base64

import pytest

from lib.deid import (
    DEFAULT_PROFILE,
    PROFILE_NAMES,
    DeidKey,
    load_deid_key,
    load_profile,
    profile_from_mapping,
)
from lib.deid.actions import Action, ActionTable, resolve_compound
from lib.errors import ConfigurationError

SECRET = bytes(range(32))


def test_reads_hex_key_and_version_from_settings() -> None:
    key = load_deid_key(
        {"MEDLAKE_DEID_KEY": SECRET.hex(), "MEDLAKE_DEID_KEY_VERSION": "local-7"}
    )
    assert key.secret == SECRET and key.version == "local-7"


def test_reads_base64_key_and_defaults_version() -> None:
    key = load_deid_key({"MEDLAKE_DEID_KEY": base64.b64encode(SECRET).decode()})
    assert key.secret == SECRET and key.version == "local"


def test_missing_key_names_both_settings() -> None:
    with pytest.raises(
        ConfigurationError, match=r"MEDLAKE_KEYVAULT_URL.*MEDLAKE_DEID_KEY"
    ):
        load_deid_key({})


def test_short_key_is_refused_without_echoing_it() -> None:
    with pytest.raises(ConfigurationError, match="at least 32 bytes") as caught:
        load_deid_key({"MEDLAKE_DEID_KEY": "abcd" * 4})
    assert "abcd" not in str(caught.value)


def test_key_repr_redacts_the_secret() -> None:
    text = repr(DeidKey(SECRET, "v1"))
    assert SECRET.hex() not in text and "redacted" in text


def test_ships_named_profiles_with_research_default() -> None:
    assert DEFAULT_PROFILE == "research"
    assert {"basic", "research", "research_full_dates"} <= set(PROFILE_NAMES)
    research = load_profile("research")
    assert research.options == {
        "retain_longitudinal_modified_dates",
        "retain_patient_characteristics",
        "clean_descriptors",
        "clean_structured_content",
        "clean_graphics",
    }


def test_unknown_profile_names_it_and_the_known_ones() -> None:
    with pytest.raises(ValueError, match=r"'nope'.*basic"):
        load_profile("nope")


def test_unknown_option_is_refused() -> None:
    with pytest.raises(ValueError, match="retain_everything"):
        profile_from_mapping("x", {"options": ["retain_everything"]})


def test_full_and_modified_dates_exclude_each_other() -> None:
    with pytest.raises(ValueError, match="exclude each other"):
        profile_from_mapping(
            "x",
            {
                "options": [
                    "retain_longitudinal_full_dates",
                    "retain_longitudinal_modified_dates",
                ]
            },
        )


@pytest.mark.parametrize(
    "template", ["PREFIX-{digest:.60}", "P-{name}", "A\\{digest:.4}", "Ä{digest:.4}"]
)
def test_invalid_pseudonym_formats_are_refused(template: str) -> None:
    with pytest.raises(ValueError, match=r"pseudonyms\.patient_id"):
        profile_from_mapping("x", {"pseudonyms": {"patient_id": template}})


@pytest.mark.parametrize(
    ("code", "expected"),
    [("X/Z", "Z"), ("X/D", "D"), ("Z/D", "D"), ("X/Z/D", "D"), ("X/Z/U*", "U")],
)
def test_compound_codes_resolve_to_the_least_destructive(
    code: str, expected: str
) -> None:
    assert resolve_compound(code) == expected


def test_keep_wins_over_clean_when_two_options_apply() -> None:
    # Allergies: retain_patient_characteristics C and clean_descriptors C; Calibration
    # Time: retain_device_identity K and modified dates C.
    both = profile_from_mapping(
        "x",
        {"options": ["retain_device_identity", "retain_longitudinal_modified_dates"]},
    )
    assert ActionTable(both).action(0x0014407C, "TM") is Action.KEEP
