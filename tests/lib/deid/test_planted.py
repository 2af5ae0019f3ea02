"""A generated corpus with planted identifiers: none may survive, in any encoding.

Each planted value is unique text that only an identifier would contain; the
scan looks for it in the output bytes in every encoding it could take (the
dataset's character set, UTF-8, UTF-16 in both byte orders, upper case).
"""

from __future__ import annotations

import io

import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian

from lib.deid import PROFILE_NAMES
from tests.lib.deid.builders import base_dataset, deidentifier, to_part10

PLANTED_UIDS = [
    "1.2.826.0.1.3680043.8.498.7771",
    "1.2.826.0.1.3680043.8.498.7772",
    "1.2.826.0.1.3680043.8.498.7773",
    "1.2.826.0.1.3680043.8.498.7774",
]


def _code(value: str, meaning: str) -> Dataset:
    item = Dataset()
    item.CodeValue = value
    item.CodingSchemeDesignator = "DCM"
    item.CodeMeaning = meaning
    return item


def planted_latin1() -> tuple[Dataset, list[str]]:
    """ISO_IR 100: names, IDs, dates, addresses, references, SR, overlays."""
    ds = base_dataset()
    ds.PatientName = "Zwölfenbach^Hélène"
    ds.PatientID = "MRN7751023"
    ds.OtherPatientIDs = "ALTID99321"
    ds.PatientBirthDate = "19610704"
    ds.PatientAddress = "17 Quaywhistle Lane, Brisworth"
    ds.PatientTelephoneNumbers = "+44 1632 960123"
    ds.AccessionNumber = "ACCQX88231"
    ds.InstitutionName = "Saint Quillibrand Infirmary"
    ds.InstitutionAddress = "3 Hospital Row, Brisworth"
    ds.ReferringPhysicianName = "Farnsworthy^Ignatius"
    ds.PerformingPhysicianName = "Ottoline^Grebe"
    ds.OperatorsName = "Tech^Vexlander"
    ds.StationName = "CTSTATION7Q"
    ds.DeviceSerialNumber = "SNQ448812"
    ds.StudyDescription = "CT thorax Zwölfenbach MRN7751023"
    ds.SeriesDescription = "Hélène axial"
    ds.StudyComments = "Call Mrs Zwölfenbach at 01632 960123"
    ds.ImageComments = "Quaywhistle Lane case"
    ds.RequestAttributesSequence = Sequence([Dataset()])
    request = ds.RequestAttributesSequence[0]
    request.RequestedProcedureID = "RPIDQ5512"
    request.ScheduledProcedureStepID = "SPSQ9917"
    request.ScheduledPerformingPhysicianName = "Schedul^Brimblecombe"
    # UIDs in references, three levels deep.
    ds.ReferencedStudySequence = Sequence([Dataset()])
    ds.ReferencedStudySequence[0].ReferencedSOPClassUID = "1.2.840.10008.3.1.2.3.1"
    ds.ReferencedStudySequence[0].ReferencedSOPInstanceUID = PLANTED_UIDS[0]
    outer = Dataset()
    middle = Dataset()
    inner = Dataset()
    inner.ReferencedSOPClassUID = ds.SOPClassUID
    inner.ReferencedSOPInstanceUID = PLANTED_UIDS[1]
    middle.ReferencedImageSequence = Sequence([inner])
    middle.SeriesInstanceUID = PLANTED_UIDS[2]
    outer.ReferencedSeriesSequence = Sequence([middle])
    ds.ReferencedSeriesSequence = Sequence([outer])
    ds.IrradiationEventUID = PLANTED_UIDS[3]
    # Private tags.
    block = ds.private_block(0x0009, "ACME QX PRIVATE", create=True)
    block.add_new(0x01, "LO", "Zwölfenbach private copy")
    block.add_new(0x02, "UN", b"MRN7751023\x00")
    # Structured content.
    text = Dataset()
    text.RelationshipType = "CONTAINS"
    text.ValueType = "TEXT"
    text.ConceptNameCodeSequence = Sequence([_code("121071", "Finding")])
    text.TextValue = "Discussed with Farnsworthy, patient Zwölfenbach"
    person = Dataset()
    person.RelationshipType = "HAS OBS CONTEXT"
    person.ValueType = "PNAME"
    person.ConceptNameCodeSequence = Sequence([_code("121008", "Person Observer")])
    person.PersonName = "Observer^Quintavalle"
    ds.ContentSequence = Sequence([text, person])
    ds.VerifyingObserverSequence = Sequence([Dataset()])
    ds.VerifyingObserverSequence[0].VerifyingObserverName = "Verifier^Plumptre"
    ds.VerifyingObserverSequence[0].VerifyingOrganization = "Quillibrand Radiology"
    # Overlay with identifying text, and an icon image.
    ds.add_new(0x60000010, "US", 4)
    ds.add_new(0x60000011, "US", 4)
    ds.add_new(0x60000022, "LO", "Overlay Zwölfenbach")
    ds.add_new(0x60000040, "CS", "G")
    ds.add_new(0x60000050, "SS", [1, 1])
    ds.add_new(0x60000100, "US", 1)
    ds.add_new(0x60000102, "US", 0)
    ds.add_new(0x60003000, "OW", b"\x0f\xf0")
    icon = Dataset()
    icon.Rows = 1
    icon.Columns = 2
    icon.SamplesPerPixel = 1
    icon.PhotometricInterpretation = "MONOCHROME2"
    icon.BitsAllocated = 8
    icon.BitsStored = 8
    icon.HighBit = 7
    icon.PixelRepresentation = 0
    icon.PixelData = b"QZ"
    ds.IconImageSequence = Sequence([icon])
    planted = [
        "Zwölfenbach",
        "Hélène",
        "MRN7751023",
        "ALTID99321",
        "19610704",
        "Quaywhistle",
        "Brisworth",
        "960123",
        "ACCQX88231",
        "Quillibrand",
        "Farnsworthy",
        "Ottoline",
        "Vexlander",
        "CTSTATION7Q",
        "SNQ448812",
        "RPIDQ5512",
        "SPSQ9917",
        "Brimblecombe",
        "Quintavalle",
        "Plumptre",
        "PLANTAE",
        *PLANTED_UIDS,
    ]
    return ds, planted


def planted_japanese() -> tuple[Dataset, list[str]]:
    """ISO 2022 IR 87 (JIS X 0208 via escape sequences), PS3.5 Annex H."""
    ds = base_dataset()
    ds.SpecificCharacterSet = ["", "ISO 2022 IR 87"]
    ds.PatientName = "Yamada^Tarou=山田^太郎=やまだ^たろう"
    ds.InstitutionName = "鳩山病院"
    ds.StudyDescription = "山田 胸部CT"
    return ds, ["Yamada", "山田", "太郎", "やまだ", "たろう", "鳩山"]


def planted_utf8() -> tuple[Dataset, list[str]]:
    """ISO_IR 192 (UTF-8), with Greek and Cyrillic names."""
    ds = base_dataset()
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.PatientName = "Ξενοφώντας^Ζηνοβία"
    ds.ReferringPhysicianName = "Дмитриевская^Агафья"
    ds.StudyDescription = "scan Ξενοφώντας"
    ds.PatientComments = "Ζηνοβία prefers mornings"
    return ds, ["Ξενοφώντας", "Ζηνοβία", "Дмитриевская", "Агафья"]


def encodings_of(value: str) -> list[bytes]:
    forms = {value, value.upper()}
    encoded: list[bytes] = []
    for form in forms:
        for codec in ("utf-8", "utf-16-le", "utf-16-be", "latin-1", "iso2022_jp"):
            try:
                encoded.append(form.encode(codec))
            except UnicodeEncodeError:
                continue
    # ISO 2022 encodes a run of kanji as escape + JIS bytes; scan the JIS bytes.
    for form in forms:
        try:
            jis = form.encode("iso2022_jp")
        except UnicodeEncodeError:
            continue
        if jis.startswith(b"\x1b$B"):
            encoded.append(jis[3:].split(b"\x1b")[0])
    return [e for e in encoded if len(e) >= 4]


CORPUS = {
    "latin1": planted_latin1,
    "iso2022-jp": planted_japanese,
    "utf8": planted_utf8,
}


@pytest.mark.parametrize("profile", PROFILE_NAMES)
@pytest.mark.parametrize("name", sorted(CORPUS))
@pytest.mark.parametrize(
    "transfer_syntax",
    [ExplicitVRLittleEndian, ImplicitVRLittleEndian],
    ids=["explicit", "implicit"],
)
def test_no_planted_identifier_survives(
    name: str, profile: str, transfer_syntax: str
) -> None:
    ds, planted = CORPUS[name]()
    data = to_part10(ds, transfer_syntax)
    for value in planted:  # the scan itself must be able to fail
        assert any(form in data for form in encodings_of(value)), value

    result = deidentifier(profile).deidentify(data)

    leaks = [
        value
        for value in planted
        if any(form in result.data for form in encodings_of(value))
    ]
    assert leaks == []
    out = pydicom.dcmread(io.BytesIO(result.data))
    assert out.PixelData == ds.PixelData
    out.decode()  # every remaining value decodes in the declared character set


def test_research_keeps_cleaned_descriptors_in_their_character_set() -> None:
    ds, _ = planted_japanese()
    out = pydicom.dcmread(
        io.BytesIO(deidentifier("research").deidentify(to_part10(ds)).data)
    )
    out.decode()
    assert out.StudyDescription == "胸部CT"
    assert out.SpecificCharacterSet == ["", "ISO 2022 IR 87"]
