"""The engine on single instances: actions, options, encodings, errors."""

from __future__ import annotations

import io
from typing import Any

import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.datadict import tag_for_keyword
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.uid import (
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
)

from lib.deid import (
    DeidBurnedInAnnotationError,
    Deidentifier,
    DeidMissingAttributeError,
    DeidUnreadableError,
    DeidUnsupportedObjectError,
    DeidUnsupportedTransferSyntaxError,
    profile_from_mapping,
)
from lib.deid.engine import IMPLEMENTATION_CLASS_UID
from lib.deid.pseudonyms import Pseudonymizer
from lib.deid.table import ROWS
from tests.lib.deid.builders import (
    FRAME_UID,
    KEY,
    OTHER_KEY,
    REFERENCED_UID,
    SERIES_UID,
    SOP_UID,
    STUDY_UID,
    base_dataset,
    deidentifier,
    to_part10,
)


def read(data: bytes) -> Dataset:
    return pydicom.dcmread(io.BytesIO(data))


def profile(*options: str, **sections: Any) -> Any:
    return profile_from_mapping("test", {"options": list(options), **sections})


def uid_of(value: str, key: Any = KEY) -> str:
    return Pseudonymizer(key, profile()).uid(value)


def plant(ds: Dataset, keyword: str, value: object, depth: int) -> None:
    """Set ``keyword`` ``depth`` sequences deep (Referenced Series Sequence)."""
    target = ds
    for _ in range(depth):
        item = Dataset()
        target.ReferencedSeriesSequence = Sequence([item])
        target = item
    setattr(target, keyword, value)


def dig(ds: Dataset, depth: int) -> Dataset:
    for _ in range(depth):
        ds = ds.ReferencedSeriesSequence[0]
    return ds


DEPTHS = pytest.mark.parametrize("depth", [0, 3], ids=["top", "nested3"])


# -- action codes of Table E.1-1 ----------------------------------------------


@pytest.mark.parametrize(
    ("keyword", "code", "value", "expected"),
    [
        ("PersonName", "D", "Plantman^Bob", "DEIDENTIFIED"),
        ("AccessionNumber", "Z", "ACC123", ""),
        ("PatientBirthTime", "X", "101010", None),
        ("OperatorsName", "X/Z/D", "Operator^Olga", "DEIDENTIFIED"),
        ("ContentCreatorName", "Z/D", "Creator^Carl", "DEIDENTIFIED"),
        ("AcquisitionContextSequence", "X/Z", None, "empty-sequence"),
        ("ReferencedStudySequence", "X/Z", None, None),
    ],
    ids=["D", "Z", "X", "X/Z/D->D", "Z/D->D", "X/Z->Z", "X/Z->X-known-type3"],
)
@DEPTHS
def test_applies_basic_profile_action_codes(
    keyword: str, code: str, value: Any, expected: Any, depth: int
) -> None:
    assert ROWS[tag_for_keyword(keyword)].basic_profile == code
    ds = base_dataset()
    if value is None:
        value = Sequence([Dataset()])
        value[0].ReferencedSOPInstanceUID = REFERENCED_UID
        value[0].ReferencedSOPClassUID = "1.2.840.10008.3.1.2.3.1"
    plant(ds, keyword, value, depth)

    out = dig(read(deidentifier("basic").deidentify(to_part10(ds)).data), depth)

    if expected is None:
        assert keyword not in out
    elif expected == "empty-sequence":
        assert keyword in out and len(out[keyword].value) == 0
    else:
        assert out[keyword].value == expected


@DEPTHS
def test_replaces_uids_with_keyed_pseudonyms(depth: int) -> None:
    ds = base_dataset()
    plant(ds, "FrameOfReferenceUID", FRAME_UID, depth)
    out = dig(read(deidentifier().deidentify(to_part10(ds)).data), depth)
    assert out.FrameOfReferenceUID == uid_of(FRAME_UID)
    assert out.FrameOfReferenceUID.startswith("2.25.")
    assert len(out.FrameOfReferenceUID) <= 64


@DEPTHS
def test_replaces_uids_inside_x_z_u_star_sequences(depth: int) -> None:
    ds = base_dataset()
    item = Dataset()
    item.ReferencedSOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
    item.ReferencedSOPInstanceUID = REFERENCED_UID
    plant(ds, "SourceImageSequence", Sequence([item]), depth)
    out = dig(read(deidentifier().deidentify(to_part10(ds)).data), depth)
    reference = out.SourceImageSequence[0]
    assert reference.ReferencedSOPInstanceUID == uid_of(REFERENCED_UID)
    assert reference.ReferencedSOPClassUID == "1.2.840.10008.5.1.4.1.1.2"


def test_unregistered_uid_outside_table_is_replaced_registered_one_kept() -> None:
    ds = base_dataset()
    ds.IrradiationEventUID = "1.2.3.4.5"  # in no row of Table E.1-1? guard below
    ds.RelatedGeneralSOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
    tag = tag_for_keyword("IrradiationEventUID")
    assert tag in ROWS or tag not in ROWS  # either way it must not survive
    out = read(deidentifier().deidentify(to_part10(ds)).data)
    assert out.IrradiationEventUID == uid_of("1.2.3.4.5")
    assert out.RelatedGeneralSOPClassUID == "1.2.840.10008.5.1.4.1.1.2"


def test_study_series_and_sop_uids_and_file_meta_are_consistent() -> None:
    result = deidentifier().deidentify(to_part10(base_dataset()))
    out = read(result.data)
    assert out.StudyInstanceUID == result.study_instance_uid == uid_of(STUDY_UID)
    assert out.SeriesInstanceUID == result.series_instance_uid == uid_of(SERIES_UID)
    assert out.SOPInstanceUID == result.sop_instance_uid == uid_of(SOP_UID)
    meta = out.file_meta
    assert meta.MediaStorageSOPInstanceUID == result.sop_instance_uid
    assert meta.MediaStorageSOPClassUID == out.SOPClassUID == result.sop_class_uid
    assert meta.ImplementationClassUID == IMPLEMENTATION_CLASS_UID
    assert "SourceApplicationEntityTitle" not in meta


# -- patient pseudonyms and dates ---------------------------------------------


def test_patient_id_and_name_become_the_same_stable_pseudonym() -> None:
    result = deidentifier().deidentify(to_part10(base_dataset()))
    out = read(result.data)
    assert out.PatientID == result.patient_id
    assert str(out.PatientName) == result.patient_id
    assert result.patient_id.startswith("ML") and len(result.patient_id) == 18
    assert "PatientBirthDate" in out and out.PatientBirthDate == ""


def test_pseudonym_format_is_configurable() -> None:
    chosen = profile(pseudonyms={"patient_id": "SUBJ-{digest:.8}", "patient_name": ""})
    out = read(Deidentifier(chosen, KEY).deidentify(to_part10(base_dataset())).data)
    assert out.PatientID.startswith("SUBJ-") and len(out.PatientID) == 13
    assert out.PatientName == ""


def test_basic_profile_removes_or_empties_dates() -> None:
    out = read(deidentifier("basic").deidentify(to_part10(base_dataset())).data)
    assert out.StudyDate == ""  # Z
    assert out.SeriesDate == "19000101"  # X/D resolves to D: a dummy date
    assert out.LongitudinalTemporalInformationModified == "REMOVED"


@DEPTHS
def test_modified_dates_shift_every_date_by_the_patient_offset(depth: int) -> None:
    ds = base_dataset()
    plant(ds, "AcquisitionDateTime", "20240316083000.5+0100", depth)
    deid = Deidentifier(profile("retain_longitudinal_modified_dates"), KEY)
    result = deid.deidentify(to_part10(ds))
    out = read(result.data)
    shifted_study = out.StudyDate
    assert shifted_study != "20240315" and len(shifted_study) == 8
    acquisition = dig(out, depth).AcquisitionDateTime
    # One day after the study date, whatever the offset; time and zone kept.
    import datetime as dt

    study = dt.datetime.strptime(shifted_study, "%Y%m%d")
    acquired = dt.datetime.strptime(acquisition[:8], "%Y%m%d")
    assert (acquired - study).days == 1
    assert acquisition[8:] == "083000.5+0100"
    assert out.StudyTime == "101500"
    assert out.LongitudinalTemporalInformationModified == "MODIFIED"
    assert result.summary()["study_date"] == shifted_study


def test_full_dates_option_keeps_dates() -> None:
    deid = Deidentifier(profile("retain_longitudinal_full_dates"), KEY)
    out = read(deid.deidentify(to_part10(base_dataset())).data)
    assert out.StudyDate == "20240315"
    assert out.LongitudinalTemporalInformationModified == "UNMODIFIED"


def test_unparsable_date_is_emptied_not_kept() -> None:
    # Patched in the bytes: pydicom refuses to write an invalid DA.
    data = to_part10(base_dataset()).replace(b"20240315", b"2024-3-1", 1)
    deid = Deidentifier(profile("retain_longitudinal_modified_dates"), KEY)
    assert read(deid.deidentify(data).data).StudyDate == ""


# -- options --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("option", "keyword", "value"),
    [
        ("retain_patient_characteristics", "PatientWeight", "71.5"),
        ("retain_device_identity", "DeviceSerialNumber", "SN-PLANT-9"),
        ("retain_institution_identity", "InstitutionAddress", "1 Plant Street"),
    ],
    ids=["patient", "device", "institution"],
)
@DEPTHS
def test_retain_options_keep_what_basic_removes(
    option: str, keyword: str, value: str, depth: int
) -> None:
    ds = base_dataset()
    plant(ds, keyword, value, depth)
    data = to_part10(ds)
    basic = dig(read(Deidentifier(profile(), KEY).deidentify(data).data), depth)
    kept = dig(read(Deidentifier(profile(option), KEY).deidentify(data).data), depth)
    assert str(basic.get(keyword, "")) in ("", "DEIDENTIFIED")
    assert str(kept[keyword].value) == value


@DEPTHS
def test_retain_uids_keeps_every_uid(depth: int) -> None:
    ds = base_dataset()
    plant(ds, "FrameOfReferenceUID", FRAME_UID, depth)
    result = Deidentifier(profile("retain_uids"), KEY).deidentify(to_part10(ds))
    out = read(result.data)
    assert dig(out, depth).FrameOfReferenceUID == FRAME_UID
    assert (
        result.sop_instance_uid == SOP_UID == out.file_meta.MediaStorageSOPInstanceUID
    )


@DEPTHS
def test_clean_descriptors_keeps_text_without_identifiers(depth: int) -> None:
    ds = base_dataset()
    plant(
        ds,
        "SeriesDescription",
        "Plantman follow-up 2024-03-15 call 555 123 4567 AXIAL",
        depth,
    )
    data = to_part10(ds)
    basic = dig(read(Deidentifier(profile(), KEY).deidentify(data).data), depth)
    clean = Deidentifier(profile("clean_descriptors"), KEY).deidentify(data)
    out = dig(read(clean.data), depth)
    assert "SeriesDescription" not in basic
    assert out.SeriesDescription == "follow-up call AXIAL"


@DEPTHS
def test_clean_structured_content_scrubs_sr_text(depth: int) -> None:
    ds = base_dataset()
    text_item = Dataset()
    text_item.RelationshipType = "CONTAINS"
    text_item.ValueType = "TEXT"
    concept = Dataset()
    concept.CodeValue = "121071"
    concept.CodingSchemeDesignator = "DCM"
    concept.CodeMeaning = "Finding"
    text_item.ConceptNameCodeSequence = Sequence([concept])
    text_item.TextValue = "Nodule seen, told Plantman by phone"
    name_item = Dataset()
    name_item.RelationshipType = "HAS OBS CONTEXT"
    name_item.ValueType = "PNAME"
    name_item.PersonName = "Observer^Otto"
    plant(ds, "ContentSequence", Sequence([text_item, name_item]), depth)
    data = to_part10(ds)

    basic = dig(read(Deidentifier(profile(), KEY).deidentify(data).data), depth)
    clean = Deidentifier(profile("clean_structured_content"), KEY).deidentify(data)
    out = dig(read(clean.data), depth)

    assert basic.ContentSequence[0].TextValue == "DEIDENTIFIED"
    assert out.ContentSequence[0].TextValue == "Nodule seen, told by phone"
    assert out.ContentSequence[0].ConceptNameCodeSequence[0].CodeMeaning == "Finding"
    assert out.ContentSequence[1].PersonName == "DEIDENTIFIED"


@DEPTHS
def test_clean_graphics_keeps_annotations_cleaned_and_drops_overlays(
    depth: int,
) -> None:
    ds = base_dataset()
    text_object = Dataset()
    text_object.UnformattedTextValue = "Plantman L2"
    text_object.AnchorPointAnnotationUnits = "PIXEL"
    text_object.AnchorPoint = [1.0, 1.0]
    layer = Dataset()
    layer.GraphicLayer = "LAYER1"
    layer.TextObjectSequence = Sequence([text_object])
    plant(ds, "GraphicAnnotationSequence", Sequence([layer]), depth)
    ds.add_new(0x60000010, "US", 4)
    ds.add_new(0x60000011, "US", 4)
    ds.add_new(0x60000022, "LO", "Plantman overlay")
    ds.add_new(0x60003000, "OW", b"\xff\xff")
    data = to_part10(ds)

    basic = read(Deidentifier(profile(), KEY).deidentify(data).data)
    clean = read(Deidentifier(profile("clean_graphics"), KEY).deidentify(data).data)

    basic_text = dig(basic, depth).GraphicAnnotationSequence[0].TextObjectSequence[0]
    clean_text = dig(clean, depth).GraphicAnnotationSequence[0].TextObjectSequence[0]
    assert basic_text.UnformattedTextValue == "DEIDENTIFIED"
    assert clean_text.UnformattedTextValue == "L2"
    for out in (basic, clean):
        assert not any(element.tag.group == 0x6000 for element in out)


def test_private_attributes_removed_unless_safe_and_retained() -> None:
    ds = base_dataset()
    block = ds.private_block(0x0019, "SIEMENS MR HEADER", create=True)
    block.add_new(0x0C, "IS", "1000")  # B_value: on the safe list
    block.add_new(0x10, "LO", "Plantman private")  # not on it
    other = ds.private_block(0x0029, "ACME PRIVATE", create=True)
    other.add_new(0x01, "LO", "Plantman private")
    data = to_part10(ds)

    basic = read(Deidentifier(profile(), KEY).deidentify(data).data)
    safe = read(Deidentifier(profile("retain_safe_private"), KEY).deidentify(data).data)

    assert not any(element.tag.is_private for element in basic)
    kept = {element.tag for element in safe if element.tag.is_private}
    assert kept == {0x00190010, 0x0019100C}


def test_icon_image_sequence_is_removed() -> None:
    ds = base_dataset()
    icon = Dataset()
    icon.Rows = 2
    icon.Columns = 2
    icon.SamplesPerPixel = 1
    icon.PhotometricInterpretation = "MONOCHROME2"
    icon.BitsAllocated = 8
    icon.BitsStored = 8
    icon.HighBit = 7
    icon.PixelRepresentation = 0
    icon.PixelData = b"\x00" * 4
    ds.IconImageSequence = Sequence([icon])
    out = read(deidentifier("research").deidentify(to_part10(ds)).data)
    assert "IconImageSequence" not in out


# -- provenance ----------------------------------------------------------------


def test_writes_provenance_with_profile_options_edition_and_key_version() -> None:
    out = read(deidentifier("research").deidentify(to_part10(base_dataset())).data)
    assert out.PatientIdentityRemoved == "YES"
    method = list(out.DeidentificationMethod)
    assert "Medlake profile research" in method
    assert "PS3.15 2026d Table E.1-1 Basic Profile" in method
    assert "retain_longitudinal_modified_dates" in method
    assert "key version test-1" in method
    codes = [item.CodeValue for item in out.DeidentificationMethodCodeSequence]
    assert codes == ["113100", "113103", "113104", "113105", "113107", "113108"]
    assert {
        item.CodingSchemeDesignator for item in out.DeidentificationMethodCodeSequence
    } == {"DCM"}


def test_input_provenance_is_replaced_not_duplicated() -> None:
    ds = base_dataset()
    ds.PatientIdentityRemoved = "NO"
    ds.DeidentificationMethod = "someone else"
    out = read(deidentifier().deidentify(to_part10(ds)).data)
    assert out.PatientIdentityRemoved == "YES"
    assert "someone else" not in list(out.DeidentificationMethod)


# -- bytes, encodings, determinism ---------------------------------------------


@pytest.mark.parametrize(
    "transfer_syntax",
    [
        ExplicitVRLittleEndian,
        ImplicitVRLittleEndian,
        ExplicitVRBigEndian,
        DeflatedExplicitVRLittleEndian,
    ],
    ids=["explicit-le", "implicit-le", "explicit-be", "deflated"],
)
def test_reads_and_writes_every_native_transfer_syntax(transfer_syntax: str) -> None:
    ds = base_dataset()
    ds.ReferencedImageSequence = Sequence([Dataset()])
    ds.ReferencedImageSequence[0].ReferencedSOPClassUID = ds.SOPClassUID
    ds.ReferencedImageSequence[0].ReferencedSOPInstanceUID = REFERENCED_UID
    data = to_part10(ds, transfer_syntax)
    original = read(data)

    out = read(deidentifier("research").deidentify(data).data)

    assert out.file_meta.TransferSyntaxUID == transfer_syntax
    assert out.PixelData == original.PixelData
    assert out.Rows == 4 and out.BitsAllocated == 16
    assert out.ReferencedImageSequence[0].ReferencedSOPInstanceUID == uid_of(
        REFERENCED_UID
    )
    assert "PatientBirthDate" in out and "Plantman" not in str(out.PatientName)


@pytest.mark.parametrize(
    "name", ["JPEG2000.dcm", "MR_small_RLE.dcm", "CT_small.dcm", "MR_small.dcm"]
)
def test_pixel_data_bytes_are_copied_untouched(name: str) -> None:
    path = get_testdata_file(name)
    assert path is not None
    with open(path, "rb") as stream:
        data = stream.read()
    original = read(data)
    out = read(deidentifier("research").deidentify(data).data)
    assert out.PixelData == original.PixelData
    assert out.file_meta.TransferSyntaxUID == original.file_meta.TransferSyntaxUID


def test_same_input_twice_gives_identical_bytes() -> None:
    data = to_part10(base_dataset())
    assert deidentifier("research").deidentify(data).data == (
        deidentifier("research").deidentify(data).data
    )


def test_different_key_gives_different_pseudonyms() -> None:
    data = to_part10(base_dataset())
    one = deidentifier("research").deidentify(data)
    two = deidentifier("research", OTHER_KEY).deidentify(data)
    assert one.patient_id != two.patient_id
    assert one.study_instance_uid != two.study_instance_uid
    assert one.sop_instance_uid != two.sop_instance_uid
    assert read(one.data).StudyDate != read(two.data).StudyDate or (
        one.patient_id != two.patient_id
    )


def test_summary_has_lake_metadata_and_no_identifiers() -> None:
    result = deidentifier("research").deidentify(to_part10(base_dataset()))
    summary = result.summary()
    assert summary["modality"] == "CT"
    assert summary["rows"] == 4 and summary["columns"] == 4
    assert summary["number_of_frames"] == 1
    assert summary["transfer_syntax_uid"] == ExplicitVRLittleEndian
    assert summary["bytes_out"] == len(result.data)
    assert "Plantman" not in repr(summary) and "PID-PLANT" not in repr(summary)
    assert "Plantman" not in repr(result)


# -- objects that cannot be cleaned --------------------------------------------


def test_not_dicom_is_unreadable() -> None:
    with pytest.raises(DeidUnreadableError, match="no DICM prefix") as caught:
        deidentifier().deidentify(b"hello" * 100)
    assert caught.value.code == "DEID_UNREADABLE"


def test_truncated_stream_is_unreadable_and_names_no_value() -> None:
    data = to_part10(base_dataset())
    with pytest.raises(DeidUnreadableError) as caught:
        deidentifier().deidentify(data[: len(data) - 10])
    assert "Plantman" not in str(caught.value)


def test_encapsulated_pdf_is_quarantined_unless_allowed() -> None:
    ds = base_dataset()
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.104.1"
    del ds.PixelData
    ds.EncapsulatedDocument = b"%PDF-1.4 Plantman"
    data = to_part10(ds)
    with pytest.raises(DeidUnsupportedObjectError, match="Encapsulated PDF") as caught:
        deidentifier().deidentify(data)
    assert caught.value.code == "DEID_UNSUPPORTED_OBJECT"
    allowed = profile(
        quarantine={"allowed_sop_classes": ["1.2.840.10008.5.1.4.1.1.104.1"]}
    )
    assert Deidentifier(allowed, KEY).deidentify(data).sop_class_uid.endswith("104.1")


def test_burned_in_annotation_is_quarantined() -> None:
    ds = base_dataset()
    ds.BurnedInAnnotation = "YES"
    with pytest.raises(DeidBurnedInAnnotationError, match="BurnedInAnnotation") as err:
        deidentifier().deidentify(to_part10(ds))
    assert err.value.code == "DEID_BURNED_IN_ANNOTATION"


def test_missing_study_uid_is_reported_by_keyword() -> None:
    ds = base_dataset()
    del ds.StudyInstanceUID
    with pytest.raises(DeidMissingAttributeError, match="StudyInstanceUID"):
        deidentifier().deidentify(to_part10(ds))


def test_unknown_transfer_syntax_is_refused() -> None:
    data = to_part10(base_dataset())
    # Patch the transfer syntax UID in the meta with a same-length private one.
    patched = data.replace(b"1.2.840.10008.1.2.1\x00", b"1.2.3.4.5.6.7.8.9.1\x00", 1)
    with pytest.raises(DeidUnsupportedTransferSyntaxError) as caught:
        deidentifier().deidentify(patched)
    assert caught.value.code == "DEID_UNSUPPORTED_TRANSFER_SYNTAX"


def test_pixel_profile_without_cleaner_is_refused_on_construction() -> None:
    with pytest.raises(ValueError, match="clean_pixel_data"):
        Deidentifier(profile("clean_pixel_data"), KEY)


def test_pixel_cleaner_seam_replaces_pixel_data() -> None:
    class Blackout:
        def clean_pixel_data(self, pixel_data: memoryview, **_: object) -> bytes:
            return bytes(len(pixel_data))

    ds = base_dataset()
    ds.BurnedInAnnotation = "YES"
    deid = Deidentifier(profile("clean_pixel_data"), KEY, pixel_cleaner=Blackout())
    out = read(deid.deidentify(to_part10(ds)).data)
    assert out.PixelData == bytes(32)
