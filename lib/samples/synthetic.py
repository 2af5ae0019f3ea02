"""Generate valid CT instances with synthetic identifiers."""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import (
    PYDICOM_IMPLEMENTATION_UID,
    UID,
    CTImageStorage,
    ExplicitVRLittleEndian,
)


def synthetic_uid(*parts: object) -> str:
    """A UID under ``2.25`` derived from ``parts`` (PS3.5 B.2), deterministic."""
    digest = hashlib.sha256("/".join(map(str, parts)).encode()).digest()
    return "2.25." + str(int.from_bytes(digest[:16], "big"))


@dataclass(frozen=True)
class SyntheticPatient:
    """A made-up patient; ``number`` seeds every identifier."""

    number: int

    @property
    def patient_name(self) -> str:
        return f"SYNTHETIC^PATIENT{self.number:04d}"

    @property
    def patient_id(self) -> str:
        return f"SYN{self.number:06d}"

    @property
    def birth_date(self) -> str:
        return f"19{50 + self.number % 40:02d}0{1 + self.number % 9}15"


def ct_instance(
    patient: SyntheticPatient,
    study: int,
    series: int,
    instance: int,
    *,
    rows: int = 512,
    columns: int = 512,
) -> bytes:
    """One CT Image Storage instance as Part 10 bytes (Explicit VR Little Endian)."""
    study_uid = UID(synthetic_uid("study", patient.number, study))
    series_uid = UID(synthetic_uid("series", patient.number, study, series))
    sop_uid = UID(synthetic_uid("sop", patient.number, study, series, instance))

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = CTImageStorage
    meta.MediaStorageSOPInstanceUID = sop_uid
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID

    ds = Dataset()
    ds.file_meta = meta
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID = sop_uid
    ds.StudyDate = f"2024{1 + study % 12:02d}{1 + patient.number % 28:02d}"
    ds.SeriesDate = ds.StudyDate
    ds.ContentDate = ds.StudyDate
    ds.StudyTime = "101500"
    ds.SeriesTime = "101700"
    ds.ContentTime = f"1018{instance % 60:02d}"
    ds.AccessionNumber = f"ACC{patient.number:04d}{study:02d}"
    ds.Modality = "CT"
    ds.Manufacturer = "Medlake Synthetic"
    ds.InstitutionName = "Synthetic General Hospital"
    ds.ReferringPhysicianName = "SYNTHETIC^REFERRER"
    ds.StudyDescription = "CT CHEST SYNTHETIC"
    ds.SeriesDescription = f"AXIAL {series}"
    ds.PatientName = patient.patient_name
    ds.PatientID = patient.patient_id
    ds.PatientBirthDate = patient.birth_date
    ds.PatientSex = "O"
    ds.PatientAge = "050Y"
    ds.BodyPartExamined = "CHEST"
    ds.SliceThickness = "1.25"
    ds.KVP = "120"
    ds.StudyInstanceUID = study_uid
    ds.SeriesInstanceUID = series_uid
    ds.StudyID = f"{study}"
    ds.SeriesNumber = series
    ds.InstanceNumber = instance
    ds.ImagePositionPatient = [-250.0, -250.0, -1.25 * instance]
    ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    ds.FrameOfReferenceUID = synthetic_uid("frame", patient.number, study)
    ds.PositionReferenceIndicator = ""
    ds.SliceLocation = -1.25 * instance
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows = rows
    ds.Columns = columns
    ds.PixelSpacing = [0.7, 0.7]
    ds.BitsAllocated = 16
    ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 1
    ds.RescaleIntercept = "-1024"
    ds.RescaleSlope = "1"
    ds.WindowCenter = "40"
    ds.WindowWidth = "400"

    # A smooth body-like disc plus seeded noise: compresses like real CT would and
    # gives models something to look at.
    rng = np.random.default_rng(patient.number * 1_000_003 + study * 1009 + instance)
    yy, xx = np.mgrid[0:rows, 0:columns]
    radius = np.hypot(yy - rows / 2, xx - columns / 2)
    image = np.where(radius < min(rows, columns) * 0.42, 1064, 24).astype(np.int16)
    image += rng.integers(-20, 20, size=(rows, columns), dtype=np.int16)
    ds.PixelData = image.tobytes()

    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def ct_series(
    patient: SyntheticPatient, study: int, series: int, count: int, **size: int
) -> Iterator[bytes]:
    """``count`` instances of one series."""
    for instance in range(1, count + 1):
        yield ct_instance(patient, study, series, instance, **size)


def write_ct_corpus(
    folder: Path,
    count: int,
    *,
    per_series: int = 64,
    rows: int = 512,
    columns: int = 512,
) -> list[Path]:
    """Write ``count`` CT instances into ``folder`` (series of ``per_series``)."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for index in range(count):
        series_index, instance = divmod(index, per_series)
        patient = SyntheticPatient(1 + series_index // 2)
        path = folder / f"ct_{index:05d}.dcm"
        if not path.exists():
            path.write_bytes(
                ct_instance(
                    patient,
                    1,
                    1 + series_index % 2,
                    instance + 1,
                    rows=rows,
                    columns=columns,
                )
            )
        paths.append(path)
    return paths
