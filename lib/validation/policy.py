"""The single place that decides what a finding does: reject, warn or pass.

Defaults come from :data:`lib.validation.codes.CATALOGUE`; operators override
them with ``MEDLAKE_VALIDATION_POLICY``, for example
``PIXEL_DATA_LENGTH_MISMATCH=warn,UID_MALFORMED=pass``.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from lib.errors import ConfigurationError
from lib.validation.codes import CATALOGUE
from lib.validation.findings import Finding, Severity, ValidationReport

__all__ = ["POLICY_SETTING", "Decision", "Policy", "Verdict"]

#: The setting :meth:`Policy.from_setting` parses, named in its errors.
POLICY_SETTING = "MEDLAKE_VALIDATION_POLICY"


class Verdict(enum.StrEnum):
    """What happens to the upload."""

    ACCEPT = "accept"
    REJECT = "reject"


@dataclass(frozen=True)
class Decision:
    """The policy's verdict on one report.

    Parameters
    ----------
    verdict : Verdict
        ``REJECT`` when any finding rejects.
    rejecting : tuple of Finding
        The findings that reject, in report order.
    warnings : tuple of Finding
        The findings that only warn, in report order.
    """

    verdict: Verdict
    rejecting: tuple[Finding, ...] = ()
    warnings: tuple[Finding, ...] = ()

    def __post_init__(self) -> None:
        if (self.verdict is Verdict.REJECT) != bool(self.rejecting):
            raise ValueError("a REJECT verdict needs rejecting findings, and only it")

    @property
    def primary(self) -> Finding | None:
        """The first rejecting finding: the quarantine reason."""
        return self.rejecting[0] if self.rejecting else None


@dataclass(frozen=True)
class Policy:
    """Severity overrides on top of each code's default.

    Parameters
    ----------
    overrides : mapping of str to Severity
        Code to severity. Unknown codes, and downgrades of codes that are not
        overridable (the upload could not be read at all), raise ``ValueError``.
    """

    overrides: Mapping[str, Severity] = field(
        default_factory=lambda: MappingProxyType({})
    )

    def __post_init__(self) -> None:
        for code, severity in self.overrides.items():
            info = CATALOGUE.get(code)
            if info is None:
                raise ValueError(f"unknown validation code {code!r}")
            if not info.overridable and severity is not info.default:
                raise ValueError(
                    f"{code} cannot be set to {severity}: later stages cannot read "
                    "such an upload"
                )
        object.__setattr__(self, "overrides", MappingProxyType(dict(self.overrides)))

    @classmethod
    def from_setting(cls, setting: str) -> Policy:
        """Parse ``CODE=severity`` pairs separated by commas; ``""`` is the default.

        Raises
        ------
        lib.errors.ConfigurationError
            Naming ``MEDLAKE_VALIDATION_POLICY`` and the offending entry, with the
            valid codes or severities.
        """
        overrides: dict[str, Severity] = {}
        for entry in setting.split(","):
            if not entry.strip():
                continue
            code, equals, severity_text = (
                part.strip() for part in entry.partition("=")
            )
            if not equals or not code or not severity_text:
                raise ConfigurationError(
                    f"{POLICY_SETTING}: entry {entry.strip()!r} is not CODE=SEVERITY, "
                    "for example PIXEL_DATA_LENGTH_MISMATCH=warn"
                )
            code = code.upper()
            if code not in CATALOGUE:
                raise ConfigurationError(
                    f"{POLICY_SETTING}: unknown code {code!r}; valid codes: "
                    f"{', '.join(CATALOGUE)}"
                )
            try:
                severity = Severity(severity_text.lower())
            except ValueError:
                raise ConfigurationError(
                    f"{POLICY_SETTING}: severity {severity_text!r} for {code} is not "
                    f"one of {', '.join(member.value for member in Severity)}"
                ) from None
            if code in overrides:
                raise ConfigurationError(f"{POLICY_SETTING}: {code} is set twice")
            info = CATALOGUE[code]
            if not info.overridable and severity is not info.default:
                raise ConfigurationError(
                    f"{POLICY_SETTING}: {code} cannot be set to {severity}, because "
                    "later stages cannot read such an upload; remove the entry"
                )
            overrides[code] = severity
        return cls(MappingProxyType(overrides))

    def severity(self, code: str) -> Severity:
        """The severity of ``code`` under this policy (unknown codes reject)."""
        if code in self.overrides:
            return self.overrides[code]
        info = CATALOGUE.get(code)
        return Severity.REJECT if info is None else info.default

    def decide(self, report: ValidationReport) -> Decision:
        """Sort the report's findings into rejecting and warnings; pass the rest."""
        rejecting = tuple(
            finding
            for finding in report.findings
            if self.severity(finding.code) is Severity.REJECT
        )
        warnings = tuple(
            finding
            for finding in report.findings
            if self.severity(finding.code) is Severity.WARN
        )
        verdict = Verdict.REJECT if rejecting else Verdict.ACCEPT
        return Decision(verdict, rejecting, warnings)
