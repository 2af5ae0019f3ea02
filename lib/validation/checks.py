"""The validation catalogue: one pure check per defect family, run in order.

Each check takes the :class:`~lib.validation.context.UploadContext` read once by
:func:`~lib.validation.context.read_context` and returns findings. A check that
needs something an earlier, structural check found broken returns nothing, so a
truncated or foreign upload yields one clear finding rather than a cascade.

Messages say what failed, which attribute (by keyword or tag), why, and what to
do. They never contain a value read from the file; lengths and counts are fine.
"""

from __future__ import annotations

import os
import re
import struct
from collections.abc import Callable
from typing import IO

from pydicom.uid import UID, ExplicitVRBigEndian

from lib.settings import DEFAULT_MAX_UPLOAD_BYTES
from lib.validation import codes
from lib.validation.context import (
    SUPPORTED_TRANSFER_SYNTAXES,
    Attribute,
    UploadContext,
    element_name,
    read_context,
)
from lib.validation.findings import Finding, ValidationReport

__all__ = [
    "CHECKS",
    "IDENTIFIER_KEYWORDS",
    "Check",
    "check_dicom_prefix",
    "check_empty_file",
    "check_encapsulated_fragments",
    "check_file_meta",
    "check_identifiers",
    "check_native_pixel_length",
    "check_pixel_description",
    "check_private_creators",
    "check_size_limit",
    "check_sop_class_uid",
    "check_sop_instance_uid",
    "check_transfer_syntax",
    "check_truncation",
    "check_uid_syntax",
    "expected_native_length",
    "uid_defect",
    "validate",
]

Check = Callable[[UploadContext], tuple[Finding, ...]]

#: The Type 1 identifiers the lake keys instances by, with the PS3.3 module
#: that makes each one Type 1.
IDENTIFIER_KEYWORDS = {
    "SOPClassUID": "PS3.3 C.12.1 SOP Common",
    "SOPInstanceUID": "PS3.3 C.12.1 SOP Common",
    "StudyInstanceUID": "PS3.3 C.7.2.1 General Study",
    "SeriesInstanceUID": "PS3.3 C.7.3.1 General Series",
}

#: PS3.10 7.1: File Meta Information elements that are Type 1 and that the
#: pipeline reads (the other Type 1 ones it regenerates when writing).
REQUIRED_FILE_META_KEYWORDS = (
    "TransferSyntaxUID",
    "MediaStorageSOPClassUID",
    "MediaStorageSOPInstanceUID",
)

FILE_META_UID_KEYWORDS = (*REQUIRED_FILE_META_KEYWORDS, "ImplementationClassUID")

#: PS3.5 9.1: at most 64 characters.
MAX_UID_LENGTH = 64
_UID_CHARACTERS = re.compile(r"[0-9.]*")
_NUMBER = re.compile(r"[0-9]+")

#: PS3.5 7.8: odd groups that are not private.
_NON_PRIVATE_ODD_GROUPS = frozenset({0x0001, 0x0003, 0x0005, 0x0007, 0xFFFF})

#: Frames from NumberOfFrames, when absent (PS3.3 C.7.6.6: single frame).
_SINGLE_FRAME = 1


def _finding(
    check: Check, code: str, message: str, keyword: str | None = None
) -> Finding:
    return Finding(code=code, check=check.__name__, message=message, keyword=keyword)


def _text(attribute: Attribute | None) -> str | None:
    """The value as ASCII text without PS3.5 6.2 padding, or ``None``.

    ``None`` for absent elements, values too long to have been loaded and
    non-ASCII bytes; trailing spaces are tolerated as a common writer quirk.
    """
    if attribute is None or attribute.value is None:
        return None
    try:
        return attribute.value.rstrip(b"\x00 ").decode("ascii")
    except UnicodeDecodeError:
        return None


def _is_empty(attribute: Attribute | None, *, text: bool = True) -> bool:
    """Absent or zero length; for text, also nothing but padding (PS3.5 6.2)."""
    if attribute is None or attribute.length == 0:
        return True
    padding_only = attribute.value is not None and not attribute.value.strip(b"\x00 ")
    return text and padding_only


def uid_defect(attribute: Attribute) -> str | None:
    """Why ``attribute`` is not a valid UID (PS3.5 9.1), or ``None`` if it is.

    The reason names a rule, never the value.
    """
    if attribute.value is None:
        return f"is {attribute.length} bytes long, more than {MAX_UID_LENGTH}"
    text = _text(attribute)
    if text is None:
        return "contains bytes that are not ASCII"
    if len(text) > MAX_UID_LENGTH:
        return f"is {len(text)} characters long, more than {MAX_UID_LENGTH}"
    if not _UID_CHARACTERS.fullmatch(text):
        return "contains characters other than digits and dots"
    components = text.split(".")
    if any(not component for component in components):
        return "has an empty component"
    if any(len(component) > 1 and component[0] == "0" for component in components):
        return "has a component with a leading zero"
    return None


def _valid_uid(attribute: Attribute | None) -> str | None:
    if attribute is None or _is_empty(attribute) or uid_defect(attribute):
        return None
    return _text(attribute)


def _transfer_syntax(context: UploadContext) -> str | None:
    return _valid_uid(context.meta("TransferSyntaxUID"))


def _supported_syntax(context: UploadContext) -> bool:
    return (_transfer_syntax(context) or "") in SUPPORTED_TRANSFER_SYNTAXES


def check_empty_file(context: UploadContext) -> tuple[Finding, ...]:
    """Reject an upload without bytes."""
    if context.size > 0:
        return ()
    return (
        _finding(
            check_empty_file,
            codes.EMPTY_FILE,
            "The upload is empty (0 bytes). Upload the file again; an interrupted "
            "copy often leaves an empty blob.",
        ),
    )


def check_size_limit(context: UploadContext) -> tuple[Finding, ...]:
    """Reject an upload larger than the limit, before any parsing."""
    if context.size > context.max_upload_bytes:
        message = (
            f"The upload is {context.size} bytes, more than the limit of "
            f"{context.max_upload_bytes} bytes. Split it (for example per frame) or "
            "raise MEDLAKE_MAX_UPLOAD_BYTES."
        )
    elif context.inflated_size_exceeded:
        message = (
            "The deflated data set inflates to more than the limit of "
            f"{context.max_upload_bytes} bytes. Send it uncompressed or raise "
            "MEDLAKE_MAX_UPLOAD_BYTES."
        )
    else:
        return ()
    return (_finding(check_size_limit, codes.SIZE_LIMIT_EXCEEDED, message),)


def check_dicom_prefix(context: UploadContext) -> tuple[Finding, ...]:
    """Reject bytes that are not DICOM, and a data set without File Meta."""
    if not context.read:
        return ()
    if not context.starts_like_data_set:
        return (
            _finding(
                check_dicom_prefix,
                codes.NOT_DICOM,
                "The upload is not DICOM: it has no 'DICM' prefix after a 128-byte "
                "preamble (PS3.10 7.1) and does not start with a group 0002 or 0008 "
                "element. Upload DICOM Part 10 files only.",
            ),
        )
    if context.file_meta is None and context.data_set is not None:
        return (
            _finding(
                check_dicom_prefix,
                codes.FILE_META_MISSING,
                "The upload is a bare data set without File Meta Information "
                "(group 0002, PS3.10 7.1), so its transfer syntax is unknown. "
                "Export it as a DICOM Part 10 file.",
            ),
        )
    return ()


def check_truncation(context: UploadContext) -> tuple[Finding, ...]:
    """Reject a file that ends inside an element or that pydicom cannot parse."""
    if context.truncation is None:
        return ()
    truncation = context.truncation
    return (
        _finding(
            check_truncation,
            codes.TRUNCATED,
            f"The upload is truncated or unreadable: {truncation.detail}. Upload the "
            "complete file again; if it fails the same way, the sender wrote a broken "
            "file.",
            truncation.keyword,
        ),
    )


def check_file_meta(context: UploadContext) -> tuple[Finding, ...]:
    """Check the File Meta Information against PS3.10 7.1."""
    if context.file_meta is None:
        return ()
    findings = []

    if not context.has_dicm_prefix:
        findings.append(
            _finding(
                check_file_meta,
                codes.FILE_META_MALFORMED,
                "The file starts with File Meta Information but lacks the 128-byte "
                "preamble and 'DICM' prefix that PS3.10 7.1 requires. Re-export it "
                "as a DICOM Part 10 file.",
            )
        )
    if not context.file_meta_explicit_vr:
        findings.append(
            _finding(
                check_file_meta,
                codes.FILE_META_MALFORMED,
                "The File Meta Information is encoded in implicit VR; PS3.10 7.1 "
                "requires Explicit VR Little Endian. Re-export the file.",
            )
        )
    if context.file_meta_group_length is not None:
        declared, actual = context.file_meta_group_length
        if declared != actual:
            findings.append(
                _finding(
                    check_file_meta,
                    codes.FILE_META_MALFORMED,
                    f"FileMetaInformationGroupLength declares {declared} bytes but the "
                    f"File Meta Information elements after it take {actual} bytes "
                    "(PS3.10 7.1). Re-export the file.",
                    "FileMetaInformationGroupLength",
                )
            )

    for keyword in REQUIRED_FILE_META_KEYWORDS:
        if _is_empty(context.meta(keyword)):
            findings.append(
                _finding(
                    check_file_meta,
                    codes.FILE_META_MALFORMED,
                    f"{keyword} is missing or empty in the File Meta Information; "
                    "PS3.10 7.1 makes it Type 1. Re-export the file with complete "
                    "File Meta Information.",
                    keyword,
                )
            )

    if context.encoding_differs_from_transfer_syntax and context.encoding:
        found = "implicit" if context.encoding.implicit_vr else "explicit"
        declared_vr = "explicit" if found == "implicit" else "implicit"
        findings.append(
            _finding(
                check_file_meta,
                codes.FILE_META_MALFORMED,
                f"TransferSyntaxUID declares {declared_vr} VR but the data set is "
                f"encoded in {found} VR (PS3.5 10). Re-export the file so the two "
                "agree.",
                "TransferSyntaxUID",
            )
        )
    return tuple(findings)


def check_transfer_syntax(context: UploadContext) -> tuple[Finding, ...]:
    """Reject transfer syntaxes outside :data:`SUPPORTED_TRANSFER_SYNTAXES`."""
    attribute = context.meta("TransferSyntaxUID")
    if _is_empty(attribute) or _supported_syntax(context):
        return ()
    if _transfer_syntax(context) == ExplicitVRBigEndian:
        why = "is Explicit VR Big Endian, retired in PS3.5 A.3"
    else:
        why = "names a transfer syntax the pipeline cannot decode"
    supported = ", ".join(
        sorted({UID(uid).name for uid in SUPPORTED_TRANSFER_SYNTAXES})
    )
    return (
        _finding(
            check_transfer_syntax,
            codes.TRANSFER_SYNTAX_UNSUPPORTED,
            f"TransferSyntaxUID {why}. Transcode the file to one of: {supported}.",
            "TransferSyntaxUID",
        ),
    )


def check_identifiers(context: UploadContext) -> tuple[Finding, ...]:
    """Reject a data set without its Type 1 identifiers."""
    if context.data_set is None:
        return ()
    return tuple(
        _finding(
            check_identifiers,
            codes.IDENTIFIER_MISSING,
            f"{keyword} is missing or empty, but {module} makes it Type 1 and the "
            "lake keys instances by it. Fix the sender so it writes the attribute.",
            keyword,
        )
        for keyword, module in IDENTIFIER_KEYWORDS.items()
        if _is_empty(context.attribute(keyword))
    )


def check_uid_syntax(context: UploadContext) -> tuple[Finding, ...]:
    """Reject identifiers that break the UID encoding rules of PS3.5 9.1."""
    candidates = [
        (keyword, context.meta(keyword)) for keyword in FILE_META_UID_KEYWORDS
    ]
    candidates += [
        (keyword, context.attribute(keyword)) for keyword in IDENTIFIER_KEYWORDS
    ]
    findings = []
    for keyword, attribute in candidates:
        if attribute is None or _is_empty(attribute):
            continue
        defect = uid_defect(attribute)
        if defect is not None:
            findings.append(
                _finding(
                    check_uid_syntax,
                    codes.UID_MALFORMED,
                    f"{keyword} is not a valid UID: it {defect} (PS3.5 9.1). "
                    "Regenerate the UID at the source; the pipeline does not repair "
                    "identifiers.",
                    keyword,
                )
            )
    return tuple(findings)


def _mismatch(context: UploadContext, meta_keyword: str, keyword: str) -> bool:
    meta_value = _text(context.meta(meta_keyword))
    value = _text(context.attribute(keyword))
    return bool(meta_value) and bool(value) and meta_value != value


def check_sop_instance_uid(context: UploadContext) -> tuple[Finding, ...]:
    """Reject a file whose File Meta names another instance than its data set."""
    if not _mismatch(context, "MediaStorageSOPInstanceUID", "SOPInstanceUID"):
        return ()
    return (
        _finding(
            check_sop_instance_uid,
            codes.SOP_INSTANCE_UID_MISMATCH,
            "MediaStorageSOPInstanceUID in the File Meta Information differs from "
            "SOPInstanceUID in the data set; PS3.10 7.1 requires them equal. The file "
            "was probably edited without updating its File Meta; re-export it.",
            "SOPInstanceUID",
        ),
    )


def check_sop_class_uid(context: UploadContext) -> tuple[Finding, ...]:
    """Flag a file whose File Meta names another SOP Class than its data set."""
    if not _mismatch(context, "MediaStorageSOPClassUID", "SOPClassUID"):
        return ()
    return (
        _finding(
            check_sop_class_uid,
            codes.SOP_CLASS_UID_MISMATCH,
            "MediaStorageSOPClassUID in the File Meta Information differs from "
            "SOPClassUID in the data set (PS3.10 7.1). The lake uses SOPClassUID; "
            "fix the sender's File Meta.",
            "SOPClassUID",
        ),
    )


def check_private_creators(context: UploadContext) -> tuple[Finding, ...]:
    """Flag private elements whose block no Private Creator reserves.

    PS3.5 7.8.1: element (gggg,xxee) with xx >= 10 belongs to the block that
    (gggg,00xx) reserves. Without it nobody can tell what the element means, and
    de-identification treats it as unknown private data.
    """
    if context.data_set is None:
        return ()
    tags = context.data_set.keys()
    findings = []
    reported_blocks: set[int] = set()
    for tag in sorted(tags):
        group, element = tag >> 16, tag & 0xFFFF
        if group % 2 == 0 or group in _NON_PRIVATE_ODD_GROUPS or element < 0x1000:
            continue
        creator = group << 16 | element >> 8
        if creator in tags or creator in reported_blocks:
            continue
        reported_blocks.add(creator)
        findings.append(
            _finding(
                check_private_creators,
                codes.PRIVATE_CREATOR_MISSING,
                f"Private element {element_name(tag)} has no Private Creator "
                f"{element_name(creator)} reserving its block (PS3.5 7.8.1), so "
                "its meaning is unknown and de-identification removes the block.",
            )
        )
    return tuple(findings)


def _unsigned_short(context: UploadContext, keyword: str) -> int | None:
    """A US value (PS3.5 6.2: 2 bytes) in the data set's byte order."""
    attribute = context.attribute(keyword)
    if attribute is None or attribute.value is None or len(attribute.value) != 2:
        return None
    little_endian = context.encoding is None or context.encoding.little_endian
    (value,) = struct.unpack("<H" if little_endian else ">H", attribute.value)
    return int(value)


def _number_of_frames(context: UploadContext) -> int | None:
    """NumberOfFrames (IS, PS3.5 6.2), 1 when absent, ``None`` when unreadable."""
    attribute = context.attribute("NumberOfFrames")
    if _is_empty(attribute):
        return _SINGLE_FRAME
    text = _text(attribute)
    if text is None or not _NUMBER.fullmatch(text.strip().lstrip("+")):
        return None
    return int(text.strip())


def _pixel_description_defects(context: UploadContext) -> list[tuple[str, str]]:
    """(keyword, reason) for each present but unusable description attribute."""
    defects = []
    for keyword in ("Rows", "Columns", "SamplesPerPixel"):
        if _is_empty(context.attribute(keyword), text=False):
            continue
        value = _unsigned_short(context, keyword)
        if value is None:
            defects.append((keyword, "is not a 2-byte unsigned short"))
        elif value == 0:
            defects.append((keyword, "is zero"))
    bits_allocated = _unsigned_short(context, "BitsAllocated")
    if not _is_empty(context.attribute("BitsAllocated"), text=False) and (
        bits_allocated is None or (bits_allocated != 1 and bits_allocated % 8)
    ):
        # PS3.5 8.1.1: Bits Allocated is 1 or a multiple of 8.
        defects.append(("BitsAllocated", "is not 1 or a multiple of 8"))
    if bits_allocated == 0:
        defects.append(("BitsAllocated", "is zero"))
    frames = _number_of_frames(context)
    if frames is None or frames == 0:
        defects.append(("NumberOfFrames", "is not a positive integer string"))
    return defects


def _missing_description(context: UploadContext) -> list[str]:
    return [
        keyword
        for keyword in ("Rows", "Columns", "BitsAllocated")
        if _is_empty(context.attribute(keyword), text=False)
    ]


def check_pixel_description(context: UploadContext) -> tuple[Finding, ...]:
    """Reject pixel data whose size and layout cannot be worked out."""
    if context.pixel is None:
        return ()
    pixel_keyword = context.pixel.keyword
    missing = [
        _finding(
            check_pixel_description,
            codes.PIXEL_DATA_DESCRIPTION_MISSING,
            f"{pixel_keyword} is present but {keyword} is missing or empty, so the "
            "pixels cannot be interpreted (PS3.3 C.7.6.3 makes it Type 1). Re-export "
            "the image with its Image Pixel module.",
            keyword,
        )
        for keyword in _missing_description(context)
    ]
    invalid = [
        _finding(
            check_pixel_description,
            codes.PIXEL_DATA_DESCRIPTION_INVALID,
            f"{keyword} {reason}, so the size of {pixel_keyword} cannot be worked "
            "out (PS3.3 C.7.6.3, PS3.5 8.1.1). Fix the image description at the "
            "source.",
            keyword,
        )
        for keyword, reason in _pixel_description_defects(context)
    ]
    return (*missing, *invalid)


def _pixel_checks_apply(context: UploadContext) -> bool:
    """Whether the pixel data layout can be judged at all.

    Not when the transfer syntax is unknown (another check rejects it), the file
    is truncated (ditto), or the description is missing or unusable.
    """
    return (
        context.pixel is not None
        and context.truncation is None
        and _supported_syntax(context)
        and not _missing_description(context)
        and not _pixel_description_defects(context)
    )


def expected_native_length(context: UploadContext) -> int:
    """The bytes native pixel data needs, before padding (PS3.5 8.1.1, 8.2).

    Only meaningful when :func:`_pixel_checks_apply` holds.
    """
    rows = _unsigned_short(context, "Rows") or 0
    columns = _unsigned_short(context, "Columns") or 0
    samples = _unsigned_short(context, "SamplesPerPixel") or 1
    bits = _unsigned_short(context, "BitsAllocated") or 0
    frames = _number_of_frames(context) or _SINGLE_FRAME
    photometric = _text(context.attribute("PhotometricInterpretation"))
    if photometric is not None and photometric.strip() == "YBR_FULL_422":
        # PS3.3 C.7.6.3.1.2: two chroma samples share each pair of pixels, so a
        # native frame holds two samples per pixel rather than three.
        samples = 2
    bits_total = rows * columns * samples * frames * bits
    # PS3.5 8.1.1: 1-bit pixels are packed, frames back to back.
    return (bits_total + 7) // 8


def check_native_pixel_length(context: UploadContext) -> tuple[Finding, ...]:
    """Reject native pixel data whose length differs from its description."""
    if context.encoding is None or context.encoding.encapsulated:
        return ()
    if context.pixel is None or not _pixel_checks_apply(context):
        return ()
    keyword = context.pixel.keyword
    actual = context.pixel.length
    if actual is None:
        message = (
            f"{keyword} has undefined length, which PS3.5 A.4 allows only with an "
            "encapsulated (compressed) transfer syntax, but TransferSyntaxUID "
            "declares a native one. Re-export the file with a matching syntax."
        )
    else:
        expected = expected_native_length(context)
        # PS3.5 7.1.1: values are padded to even length with one byte.
        if actual == expected or (expected % 2 and actual == expected + 1):
            return ()
        message = (
            f"{keyword} holds {actual} bytes but Rows x Columns x SamplesPerPixel x "
            f"NumberOfFrames x BitsAllocated needs {expected} bytes (PS3.5 8.1.1). "
            "The pixel data or its description is wrong; re-export the image."
        )
    return (
        _finding(
            check_native_pixel_length,
            codes.PIXEL_DATA_LENGTH_MISMATCH,
            message,
            keyword,
        ),
    )


def check_encapsulated_fragments(context: UploadContext) -> tuple[Finding, ...]:
    """Reject encapsulated pixel data whose items break PS3.5 A.4."""
    if context.encoding is None or not context.encoding.encapsulated:
        return ()
    if context.pixel is None or not _pixel_checks_apply(context):
        return ()
    keyword = context.pixel.keyword
    fragments = context.pixel.fragments
    frames = _number_of_frames(context) or _SINGLE_FRAME
    if fragments is None:
        defect = "it has a defined length where an undefined length with items belongs"
    elif fragments.defect is not None:
        defect = fragments.defect
    elif fragments.fragment_count == 0:
        defect = "it has no fragments"
    elif fragments.fragment_count < frames:
        defect = (
            f"it has {fragments.fragment_count} fragments for {frames} frames, but "
            "each frame needs at least one"
        )
    else:
        return ()
    return (
        _finding(
            check_encapsulated_fragments,
            codes.PIXEL_FRAGMENTS_MALFORMED,
            f"{keyword} is not valid encapsulated pixel data: {defect} (PS3.5 A.4). "
            "Re-export or re-compress the image.",
            keyword,
        ),
    )


#: The catalogue, in the order findings are reported: the first rejecting one
#: becomes the quarantine reason, so structural checks come first.
CHECKS: tuple[Check, ...] = (
    check_empty_file,
    check_size_limit,
    check_dicom_prefix,
    check_truncation,
    check_file_meta,
    check_transfer_syntax,
    check_identifiers,
    check_uid_syntax,
    check_sop_instance_uid,
    check_sop_class_uid,
    check_private_creators,
    check_pixel_description,
    check_native_pixel_length,
    check_encapsulated_fragments,
)


def validate(
    stream: IO[bytes],
    *,
    size: int | None = None,
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES,
) -> ValidationReport:
    """Validate one upload against the catalogue.

    Parameters
    ----------
    stream : binary file object
        Seekable, positioned at the start of the upload. Native pixel data is
        never read and encapsulated pixel data only by item headers, so a
        spooled temporary file of any size is fine.
    size : int, optional
        The upload's length in bytes; measured by seeking when omitted.
    max_upload_bytes : int, optional
        Larger uploads get ``SIZE_LIMIT_EXCEEDED`` without being parsed.

    Returns
    -------
    ValidationReport
        Every problem as a finding; no input bytes make this raise.

    Examples
    --------
    >>> import io
    >>> validate(io.BytesIO(b""), size=0).codes
    ('EMPTY_FILE',)
    """
    if size is None:
        size = stream.seek(0, os.SEEK_END)
        stream.seek(0)
    context = read_context(stream, size, max_upload_bytes)
    findings = tuple(finding for check in CHECKS for finding in check(context))
    sop_class_uid = _valid_uid(context.attribute("SOPClassUID")) or _valid_uid(
        context.meta("MediaStorageSOPClassUID")
    )
    return ValidationReport(
        findings=findings,
        transfer_syntax_uid=_transfer_syntax(context),
        sop_class_uid=sop_class_uid,
    )
