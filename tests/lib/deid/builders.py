"""Datasets for the de-identification tests, built with pydicom.

Every identifier is made up. ``to_part10`` writes a dataset in any of the
transfer syntaxes the engine reads.
"""

from __future__ import annotations

import io

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import (
    PYDICOM_IMPLEMENTATION_UID,
    UID,
    CTImageStorage,
    ExplicitVRLittleEndian,
)

from lib.deid import Deidentifier, DeidKey, Profile, load_profile

KEY = DeidKey(secret=bytes(range(32)), version="test-1")
OTHER_KEY = DeidKey(secret=bytes(range(1, 33)), version="test-2")

STUDY_UID = "1.2.826.0.1.3680043.8.498.1001"
SERIES_UID = "1.2.826.0.1.3680043.8.498.1002"
SOP_UID = "1.2.826.0.1.3680043.8.498.1003"
FRAME_UID = "1.2.826.0.1.3680043.8.498.1004"
REFERENCED_UID = "1.2.826.0.1.3680043.8.498.1005"


def deidentifier(profile: str | Profile = "basic", key: DeidKey = KEY) -> Deidentifier:
    chosen = load_profile(profile) if isinstance(profile, str) else profile
    return Deidentifier(chosen, key)


def base_dataset(pixels: bytes | None = None) -> Dataset:
    """A small valid CT image with planted identifiers."""
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID = SOP_UID
    ds.StudyDate = "20240315"
    ds.SeriesDate = "20240315"
    ds.StudyTime = "101500"
    ds.AccessionNumber = "ACCPLANT01"
    ds.Modality = "CT"
    ds.Manufacturer = "Acme"
    ds.InstitutionName = "Plantville General"
    ds.ReferringPhysicianName = "Doctor^Plantfinder"
    ds.StudyDescription = "CT CHEST"
    ds.PatientName = "Plantman^Alice"
    ds.PatientID = "PID-PLANT-42"
    ds.PatientBirthDate = "19700101"
    ds.PatientSex = "F"
    ds.PatientAge = "054Y"
    ds.StudyInstanceUID = STUDY_UID
    ds.SeriesInstanceUID = SERIES_UID
    ds.StudyID = "STUDYPLANT"
    ds.SeriesNumber = 1
    ds.InstanceNumber = 1
    ds.FrameOfReferenceUID = FRAME_UID
    ds.PositionReferenceIndicator = ""
    ds.ImagePositionPatient = [0, 0, 0]
    ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows = 4
    ds.Columns = 4
    ds.PixelSpacing = [0.5, 0.5]
    ds.BitsAllocated = 16
    ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 0
    ds.RescaleIntercept = 0
    ds.RescaleSlope = 1
    ds.KVP = 120
    ds.PixelData = (
        pixels if pixels is not None else np.arange(16, dtype="<u2").tobytes()
    )
    return ds


def to_part10(ds: Dataset, transfer_syntax: str = ExplicitVRLittleEndian) -> bytes:
    """``ds`` as Part 10 bytes in ``transfer_syntax``."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = ds.SOPClassUID
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = UID(transfer_syntax)
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    meta.SourceApplicationEntityTitle = "PLANTAE"
    ds.file_meta = meta
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def nest(element_setter: Dataset, depth: int = 3) -> Dataset:
    """Wrap ``element_setter`` (an item) in ``depth`` levels of sequences.

    The outer levels are Referenced Series Sequence (not in Table E.1-1: kept and
    recursed), so the wrapped attribute sits ``depth`` sequences deep.
    """
    item = element_setter
    for _ in range(depth - 1):
        outer = Dataset()
        outer.ReferencedSeriesSequence = Sequence([item])
        item = outer
    return item
