"""Errors raised by de-identification, each with a stable ``code``.

The pipeline quarantines an instance under ``code`` and the CLI reports it; the
message names attributes by keyword or tag and never echoes a value, because a
value is exactly what de-identification is there to hide.
"""

from __future__ import annotations

from lib.errors import MedlakeError

__all__ = [
    "DeidBurnedInAnnotationError",
    "DeidError",
    "DeidMissingAttributeError",
    "DeidUnreadableError",
    "DeidUnsupportedObjectError",
    "DeidUnsupportedTransferSyntaxError",
]


class DeidError(MedlakeError, ValueError):
    """An instance that cannot be de-identified; ``code`` says why."""

    code = "DEID_FAILED"


class DeidUnreadableError(DeidError):
    """The bytes are not a well-formed DICOM Part 10 stream."""

    code = "DEID_UNREADABLE"


class DeidUnsupportedTransferSyntaxError(DeidError):
    """The transfer syntax is not one whose encoding is known (PS3.5 10)."""

    code = "DEID_UNSUPPORTED_TRANSFER_SYNTAX"


class DeidUnsupportedObjectError(DeidError):
    """The SOP class carries content the header rules cannot clean (PS3.15 E.1)."""

    code = "DEID_UNSUPPORTED_OBJECT"


class DeidBurnedInAnnotationError(DeidError):
    """Burned In Annotation is YES and no pixel cleaner is configured."""

    code = "DEID_BURNED_IN_ANNOTATION"


class DeidMissingAttributeError(DeidError):
    """An attribute the lake layout needs (a UID) is absent or empty."""

    code = "DEID_MISSING_ATTRIBUTE"
