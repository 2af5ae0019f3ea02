"""Validate DICOM uploads before anything is archived or de-identified.

:func:`validate` reads an upload once, without loading its pixel data, and runs
the catalogue of checks (:data:`CHECKS`); each problem is a :class:`Finding` with
a stable code (:mod:`lib.validation.codes`). A :class:`Policy`, configured by
``MEDLAKE_VALIDATION_POLICY``, then decides whether the upload is accepted.

Examples
--------
>>> import io
>>> report = validate(io.BytesIO(b"not dicom"), size=9, max_upload_bytes=1 << 20)
>>> Policy.from_setting("").decide(report).primary.code
'NOT_DICOM'
"""

from lib.validation.checks import CHECKS, validate
from lib.validation.codes import CATALOGUE, CodeInfo
from lib.validation.context import SUPPORTED_TRANSFER_SYNTAXES
from lib.validation.findings import Finding, Severity, ValidationReport
from lib.validation.policy import Decision, Policy, Verdict

__all__ = [
    "CATALOGUE",
    "CHECKS",
    "SUPPORTED_TRANSFER_SYNTAXES",
    "CodeInfo",
    "Decision",
    "Finding",
    "Policy",
    "Severity",
    "ValidationReport",
    "Verdict",
    "validate",
]
