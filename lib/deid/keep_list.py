"""Attributes outside Table E.1-1 that are kept because they hold no identifiers.

PS3.15 E.1.1 lets an implementation remove anything not needed; Medlake removes
every text attribute (LO, SH, ST, LT, UT, UC, UR, AE, AS, PN) and every date that
is not in Table E.1-1 unless it is named here. Attributes outside the table whose
value is a code, a number, a tag or binary data (CS, AT, numeric VRs, OB/OW/OF/
OD/OL/OV) are kept by VR, and sequences outside the table are kept with their
content de-identified by the same rules (see ``actions.default_action``). Person
names (PN) are never on this list.

Each name is a DICOM keyword (PS3.6); the groups say why they are safe.
"""

from __future__ import annotations

from pydicom.datadict import tag_for_keyword

__all__ = ["CLASS_UID_KEYWORDS", "KEEP_KEYWORDS", "keep_tags"]

KEEP_KEYWORDS: frozenset[str] = frozenset(
    {
        # Equipment make and model: name a product, not a device or a site.
        "Manufacturer",
        "ManufacturerModelName",
        "SoftwareVersions",
        # Pixel description, geometry and reconstruction (PS3.3 C.7.6, C.8).
        "PositionReferenceIndicator",
        "RescaleType",
        "WindowCenterWidthExplanation",
        "LUTExplanation",
        "ConvolutionKernel",
        "FilterType",
        "DimensionDescriptionLabel",
        "ReconstructionMethod",
        "ContrastBolusRoute",
        "Radiopharmaceutical",
        "Radionuclide",
        # Acquisition parameters (MR, CT, US, PET).
        "SequenceName",
        "PulseSequenceName",
        "ReceiveCoilName",
        "TransmitCoilName",
        "ImagedNucleus",
        "TransducerData",
        "DetectorDescription",
        "CollimatorGridName",
        "ExposureControlModeDescription",
        # Code Sequence Macro (PS3.3 Table 8.8-1): coded concepts, not people.
        "CodeValue",
        "CodingSchemeDesignator",
        "CodingSchemeVersion",
        "CodeMeaning",
        "LongCodeValue",
        "URNCodeValue",
        "MappingResourceName",
        "ContextGroupVersion",
        "ContextGroupLocalVersion",
        "CodingSchemeName",
        # Segmentation and measurement labels (PS3.3 C.8.20): anatomy and
        # algorithm names chosen from terminologies.
        "SegmentLabel",
        "SegmentAlgorithmName",
        "AlgorithmName",
        "AlgorithmVersion",
        "AlgorithmFamilyCodeSequence",
        # Presentation states and graphic layers (PS3.3 C.10.7).
        "GraphicLayerDescription",
        "ContentDescription",
    }
)

# SOP class and transfer syntax UIDs name a kind of object or an encoding, never
# an instance, so they are kept even when private (PS3.15 E.3.9 replaces instance
# UIDs only); pseudonymizing them would break storage and references.
CLASS_UID_KEYWORDS: frozenset[str] = frozenset(
    {
        "SOPClassUID",
        "MediaStorageSOPClassUID",
        "ReferencedSOPClassUID",
        "ReferencedSOPClassUIDInFile",
        "AffectedSOPClassUID",
        "RequestedSOPClassUID",
        "RelatedGeneralSOPClassUID",
        "OriginalSpecializedSOPClassUID",
        "TransferSyntaxUID",
        "ReferencedTransferSyntaxUIDInFile",
        "CodingSchemeUID",
        "SOPClassesInStudy",
    }
)


def keep_tags(keywords: frozenset[str]) -> frozenset[int]:
    """The tags of ``keywords`` known to this pydicom; unknown names are skipped."""
    tags = (tag_for_keyword(keyword) for keyword in keywords)
    return frozenset(tag for tag in tags if tag is not None)
