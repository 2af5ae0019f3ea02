"""The stable finding codes: names, default severities and descriptions.

Codes are a public interface: quarantine records, outcome events, dashboards and
``MEDLAKE_VALIDATION_POLICY`` refer to them. Add codes; never rename or reuse one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from lib.validation.findings import Severity

__all__ = [
    "CATALOGUE",
    "EMPTY_FILE",
    "FILE_META_MALFORMED",
    "FILE_META_MISSING",
    "IDENTIFIER_MISSING",
    "NOT_DICOM",
    "PIXEL_DATA_DESCRIPTION_INVALID",
    "PIXEL_DATA_DESCRIPTION_MISSING",
    "PIXEL_DATA_LENGTH_MISMATCH",
    "PIXEL_FRAGMENTS_MALFORMED",
    "PRIVATE_CREATOR_MISSING",
    "SIZE_LIMIT_EXCEEDED",
    "SOP_CLASS_UID_MISMATCH",
    "SOP_INSTANCE_UID_MISMATCH",
    "TRANSFER_SYNTAX_UNSUPPORTED",
    "TRUNCATED",
    "UID_MALFORMED",
    "CodeInfo",
]

EMPTY_FILE = "EMPTY_FILE"
SIZE_LIMIT_EXCEEDED = "SIZE_LIMIT_EXCEEDED"
NOT_DICOM = "NOT_DICOM"
FILE_META_MISSING = "FILE_META_MISSING"
TRUNCATED = "TRUNCATED"
FILE_META_MALFORMED = "FILE_META_MALFORMED"
TRANSFER_SYNTAX_UNSUPPORTED = "TRANSFER_SYNTAX_UNSUPPORTED"
IDENTIFIER_MISSING = "IDENTIFIER_MISSING"
UID_MALFORMED = "UID_MALFORMED"
SOP_INSTANCE_UID_MISMATCH = "SOP_INSTANCE_UID_MISMATCH"
SOP_CLASS_UID_MISMATCH = "SOP_CLASS_UID_MISMATCH"
PRIVATE_CREATOR_MISSING = "PRIVATE_CREATOR_MISSING"
PIXEL_DATA_DESCRIPTION_MISSING = "PIXEL_DATA_DESCRIPTION_MISSING"
PIXEL_DATA_DESCRIPTION_INVALID = "PIXEL_DATA_DESCRIPTION_INVALID"
PIXEL_DATA_LENGTH_MISMATCH = "PIXEL_DATA_LENGTH_MISMATCH"
PIXEL_FRAGMENTS_MALFORMED = "PIXEL_FRAGMENTS_MALFORMED"


@dataclass(frozen=True)
class CodeInfo:
    """What a code means and what happens to it by default.

    Parameters
    ----------
    code : str
        The stable code.
    default : Severity
        The severity when ``MEDLAKE_VALIDATION_POLICY`` does not override it.
    description : str
        One line for the documentation.
    overridable : bool
        ``False`` for codes after which the later stages cannot read the upload
        at all; the policy refuses to downgrade them.
    """

    code: str
    default: Severity
    description: str
    overridable: bool = True


def _catalogue(*infos: CodeInfo) -> Mapping[str, CodeInfo]:
    return MappingProxyType({info.code: info for info in infos})


_REJECT = Severity.REJECT
_WARN = Severity.WARN

#: Every code, in the order the checks report them.
CATALOGUE: Mapping[str, CodeInfo] = _catalogue(
    CodeInfo(EMPTY_FILE, _REJECT, "The upload has no bytes.", overridable=False),
    CodeInfo(
        SIZE_LIMIT_EXCEEDED,
        _REJECT,
        "The upload (or its inflated data set) is larger than the upload limit.",
        overridable=False,
    ),
    CodeInfo(
        NOT_DICOM,
        _REJECT,
        "No DICM prefix and the bytes do not start like a DICOM data set.",
        overridable=False,
    ),
    CodeInfo(
        FILE_META_MISSING,
        _REJECT,
        "No File Meta Information (PS3.10 7.1): the data set is not a Part 10 file.",
    ),
    CodeInfo(
        TRUNCATED,
        _REJECT,
        "The file ends inside an element or the data set cannot be parsed.",
        overridable=False,
    ),
    CodeInfo(
        FILE_META_MALFORMED,
        _REJECT,
        "The File Meta Information lacks a required element or has a bad length.",
    ),
    CodeInfo(
        TRANSFER_SYNTAX_UNSUPPORTED,
        _REJECT,
        "The transfer syntax is not one the pipeline reads (see lib.validation).",
    ),
    CodeInfo(
        IDENTIFIER_MISSING,
        _REJECT,
        "A Type 1 identifier (SOP Class/Instance, Study/Series Instance UID) "
        "is missing or empty.",
    ),
    CodeInfo(
        UID_MALFORMED,
        _REJECT,
        "A UID breaks PS3.5 9.1 (length, characters, components, leading zeros).",
    ),
    # Warn, not reject: the data set's SOPInstanceUID is authoritative and the
    # pipeline writes new File Meta; pydicom's own rtplan.dcm test file has
    # this defect.
    CodeInfo(
        SOP_INSTANCE_UID_MISMATCH,
        _WARN,
        "MediaStorageSOPInstanceUID differs from SOPInstanceUID.",
    ),
    CodeInfo(
        SOP_CLASS_UID_MISMATCH,
        _WARN,
        "MediaStorageSOPClassUID differs from SOPClassUID.",
    ),
    CodeInfo(
        PRIVATE_CREATOR_MISSING,
        _WARN,
        "A private element has no Private Creator reserving its block (PS3.5 7.8.1).",
    ),
    CodeInfo(
        PIXEL_DATA_DESCRIPTION_MISSING,
        _REJECT,
        "PixelData is present but Rows, Columns or BitsAllocated is missing.",
    ),
    CodeInfo(
        PIXEL_DATA_DESCRIPTION_INVALID,
        _REJECT,
        "Rows, Columns, BitsAllocated, SamplesPerPixel or NumberOfFrames is "
        "unreadable or out of range.",
    ),
    CodeInfo(
        PIXEL_DATA_LENGTH_MISMATCH,
        _REJECT,
        "Native PixelData length differs from what the image description needs.",
    ),
    CodeInfo(
        PIXEL_FRAGMENTS_MALFORMED,
        _REJECT,
        "Encapsulated PixelData breaks PS3.5 A.4 (offset table, items, "
        "fragments, delimiter).",
    ),
)
