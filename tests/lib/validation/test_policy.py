"""The policy: defaults, overrides and the errors a bad setting gets."""

from __future__ import annotations

import io

import pytest

from lib.errors import ConfigurationError
from lib.validation import (
    CATALOGUE,
    Decision,
    Finding,
    Policy,
    Severity,
    ValidationReport,
    Verdict,
    codes,
    validate,
)
from tests.support.malformed import MALFORMED


def _report(*found: str) -> ValidationReport:
    return ValidationReport(
        tuple(Finding(code, "check_test", f"{code} found") for code in found)
    )


def _sample_report(name: str) -> ValidationReport:
    data = MALFORMED[name][0]()
    return validate(io.BytesIO(data), size=len(data), max_upload_bytes=1 << 30)


def test_default_policy_uses_each_codes_default_severity() -> None:
    policy = Policy.from_setting("")
    for code, info in CATALOGUE.items():
        assert policy.severity(code) is info.default


def test_default_policy_rejects_and_names_the_first_rejecting_finding() -> None:
    report = _report(codes.SOP_CLASS_UID_MISMATCH, codes.UID_MALFORMED, codes.TRUNCATED)
    decision = Policy.from_setting("").decide(report)
    assert decision.verdict is Verdict.REJECT
    assert decision.primary == report.findings[1]
    assert [f.code for f in decision.rejecting] == [
        codes.UID_MALFORMED,
        codes.TRUNCATED,
    ]
    assert [f.code for f in decision.warnings] == [codes.SOP_CLASS_UID_MISMATCH]


def test_default_policy_accepts_warnings_only() -> None:
    decision = Policy.from_setting("").decide(_sample_report("sop_class_uid_mismatch"))
    assert decision.verdict is Verdict.ACCEPT
    assert decision.primary is None
    assert [f.code for f in decision.warnings] == [codes.SOP_CLASS_UID_MISMATCH]


def test_overrides_downgrade_codes_to_warn_and_pass() -> None:
    policy = Policy.from_setting("PIXEL_DATA_LENGTH_MISMATCH=warn,UID_MALFORMED=pass")
    report = _report(codes.PIXEL_DATA_LENGTH_MISMATCH, codes.UID_MALFORMED)
    decision = policy.decide(report)
    assert decision.verdict is Verdict.ACCEPT
    assert decision.rejecting == ()
    assert [f.code for f in decision.warnings] == [codes.PIXEL_DATA_LENGTH_MISMATCH]


def test_overrides_can_make_a_warning_reject() -> None:
    policy = Policy.from_setting("sop_class_uid_mismatch = REJECT")
    decision = policy.decide(_sample_report("sop_class_uid_mismatch"))
    assert decision.verdict is Verdict.REJECT
    assert decision.primary is not None
    assert decision.primary.code == codes.SOP_CLASS_UID_MISMATCH


def test_overrides_tolerate_whitespace_and_empty_entries() -> None:
    policy = Policy.from_setting(" , UID_MALFORMED = warn ,, ")
    assert policy.severity(codes.UID_MALFORMED) is Severity.WARN


def test_unknown_codes_in_a_report_reject() -> None:
    decision = Policy.from_setting("").decide(_report("FROM_THE_FUTURE"))
    assert decision.verdict is Verdict.REJECT


@pytest.mark.parametrize(
    ("setting", "expected"),
    [
        pytest.param(
            "NO_SUCH_CODE=warn",
            ["MEDLAKE_VALIDATION_POLICY", "'NO_SUCH_CODE'", "valid codes", "TRUNCATED"],
            id="unknown_code",
        ),
        pytest.param(
            "UID_MALFORMED=ignore",
            [
                "MEDLAKE_VALIDATION_POLICY",
                "'ignore'",
                "UID_MALFORMED",
                "reject, warn, pass",
            ],
            id="unknown_severity",
        ),
        pytest.param(
            "UID_MALFORMED",
            ["MEDLAKE_VALIDATION_POLICY", "'UID_MALFORMED'", "is not CODE=SEVERITY"],
            id="missing_equals",
        ),
        pytest.param(
            "=warn",
            ["MEDLAKE_VALIDATION_POLICY", "'=warn'", "is not CODE=SEVERITY"],
            id="missing_code",
        ),
        pytest.param(
            "UID_MALFORMED=warn,UID_MALFORMED=pass",
            ["MEDLAKE_VALIDATION_POLICY", "UID_MALFORMED is set twice"],
            id="duplicate_code",
        ),
        pytest.param(
            "TRUNCATED=warn",
            ["MEDLAKE_VALIDATION_POLICY", "TRUNCATED cannot be set to warn"],
            id="not_overridable",
        ),
    ],
)
def test_bad_settings_raise_configuration_errors(
    setting: str, expected: list[str]
) -> None:
    with pytest.raises(ConfigurationError) as caught:
        Policy.from_setting(setting)
    for text in expected:
        assert text in str(caught.value)


def test_bad_overrides_are_refused_at_construction() -> None:
    with pytest.raises(ValueError, match="unknown validation code 'NOPE'"):
        Policy({"NOPE": Severity.WARN})
    with pytest.raises(ValueError, match="EMPTY_FILE cannot be set to pass"):
        Policy({codes.EMPTY_FILE: Severity.PASS})


def test_a_decision_is_consistent_from_construction() -> None:
    with pytest.raises(ValueError, match="REJECT verdict needs rejecting findings"):
        Decision(Verdict.REJECT)
    finding = Finding(codes.TRUNCATED, "check_truncation", "truncated")
    with pytest.raises(ValueError, match="REJECT verdict needs rejecting findings"):
        Decision(Verdict.ACCEPT, rejecting=(finding,))
