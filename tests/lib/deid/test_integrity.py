"""Referential integrity across instances de-identified separately."""

from __future__ import annotations

import datetime as dt
import io

import pydicom
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from lib.samples import SyntheticPatient, ct_instance
from tests.lib.deid.builders import base_dataset, deidentifier, to_part10


def read(data: bytes) -> Dataset:
    return pydicom.dcmread(io.BytesIO(data))


def test_reference_to_another_instance_still_resolves() -> None:
    image = base_dataset()
    image.SOPInstanceUID = "1.2.826.0.1.3680043.8.498.3001"
    derived = base_dataset()
    derived.SOPInstanceUID = "1.2.826.0.1.3680043.8.498.3002"
    derived.SeriesInstanceUID = "1.2.826.0.1.3680043.8.498.3003"
    source = Dataset()
    source.ReferencedSOPClassUID = image.SOPClassUID
    source.ReferencedSOPInstanceUID = image.SOPInstanceUID
    derived.SourceImageSequence = Sequence([source])
    deid = deidentifier("research")

    image_out = deid.deidentify(to_part10(image))
    derived_out = read(deid.deidentify(to_part10(derived)).data)

    reference = derived_out.SourceImageSequence[0]
    assert reference.ReferencedSOPInstanceUID == image_out.sop_instance_uid
    assert derived_out.FrameOfReferenceUID == read(image_out.data).FrameOfReferenceUID


def test_a_series_stays_one_series() -> None:
    deid = deidentifier("research")
    patient = SyntheticPatient(3)
    results = [
        deid.deidentify(ct_instance(patient, 1, 1, n, rows=8, columns=8))
        for n in range(1, 5)
    ]
    assert len({r.series_instance_uid for r in results}) == 1
    assert len({r.study_instance_uid for r in results}) == 1
    assert len({r.sop_instance_uid for r in results}) == 4


def test_two_studies_of_one_patient_share_pseudonym_and_interval() -> None:
    deid = deidentifier("research")
    patient = SyntheticPatient(5)
    first = ct_instance(patient, 1, 1, 1, rows=8, columns=8)
    second = ct_instance(patient, 4, 1, 1, rows=8, columns=8)
    originals = [read(first).StudyDate, read(second).StudyDate]

    results = [deid.deidentify(first), deid.deidentify(second)]
    shifted = [read(r.data).StudyDate for r in results]

    assert results[0].patient_id == results[1].patient_id
    assert results[0].study_instance_uid != results[1].study_instance_uid

    def days(a: str, b: str) -> int:
        return (dt.date.fromisoformat(b) - dt.date.fromisoformat(a)).days

    iso = [f"{d[:4]}-{d[4:6]}-{d[6:]}" for d in (*originals, *shifted)]
    assert shifted != originals
    assert days(iso[0], iso[1]) == days(iso[2], iso[3])


def test_different_patients_get_different_pseudonyms() -> None:
    deid = deidentifier("research")
    one = deid.deidentify(ct_instance(SyntheticPatient(1), 1, 1, 1, rows=8, columns=8))
    two = deid.deidentify(ct_instance(SyntheticPatient(2), 1, 1, 1, rows=8, columns=8))
    assert one.patient_id != two.patient_id
