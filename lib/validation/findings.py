"""What validation produces: findings with stable codes, gathered in a report.

A finding says what is wrong with an upload; it carries no severity, because the
policy (:mod:`lib.validation.policy`) alone decides whether a code rejects, warns
or passes. Messages name attributes by keyword and never echo a value read from
the file, so findings are safe for logs, quarantine records and events.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

__all__ = ["Finding", "Severity", "ValidationReport"]


class Severity(enum.StrEnum):
    """What the policy does with a finding."""

    REJECT = "reject"
    WARN = "warn"
    PASS = "pass"


@dataclass(frozen=True)
class Finding:
    """One problem found in an upload.

    Parameters
    ----------
    code : str
        A stable code from :mod:`lib.validation.codes`.
    check : str
        The name of the check function that found it.
    message : str
        What failed, why, and what to do; never a value from the file.
    keyword : str or None
        The DICOM keyword of the attribute concerned, if any.
    """

    code: str
    check: str
    message: str
    keyword: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return the finding as a JSON-safe dictionary."""
        return {
            "code": self.code,
            "check": self.check,
            "message": self.message,
            "keyword": self.keyword,
        }


@dataclass(frozen=True)
class ValidationReport:
    """Everything validation found in one upload.

    Parameters
    ----------
    findings : tuple of Finding
        In catalogue order; empty for a clean instance.
    transfer_syntax_uid : str or None
        The file's *Transfer Syntax UID* when present and well formed.
    sop_class_uid : str or None
        The *SOP Class UID* (or, failing that, *Media Storage SOP Class UID*)
        when present and well formed. Neither UID identifies a patient.
    """

    findings: tuple[Finding, ...]
    transfer_syntax_uid: str | None = None
    sop_class_uid: str | None = None

    @property
    def codes(self) -> tuple[str, ...]:
        """The codes of the findings, in order."""
        return tuple(finding.code for finding in self.findings)

    def to_dict(self) -> dict[str, Any]:
        """Return the report as a JSON-safe dictionary."""
        return {
            "findings": [finding.to_dict() for finding in self.findings],
            "transfer_syntax_uid": self.transfer_syntax_uid,
            "sop_class_uid": self.sop_class_uid,
        }
