"""One parametrized test per check: code, keyword and message for each defect."""

from __future__ import annotations

import io
from collections.abc import Callable

import pytest

from lib.validation import Finding, codes, validate
from lib.validation.checks import (
    check_dicom_prefix,
    check_empty_file,
    check_encapsulated_fragments,
    check_file_meta,
    check_identifiers,
    check_native_pixel_length,
    check_pixel_description,
    check_private_creators,
    check_size_limit,
    check_sop_class_uid,
    check_sop_instance_uid,
    check_transfer_syntax,
    check_truncation,
    check_uid_syntax,
)
from tests.support import malformed
from tests.support.malformed import MALFORMED, PLANTED_VALUES

LIMIT = 1 << 30


def _findings(data: bytes, max_upload_bytes: int = LIMIT) -> tuple[Finding, ...]:
    report = validate(
        io.BytesIO(data), size=len(data), max_upload_bytes=max_upload_bytes
    )
    return report.findings


def _assert_reported(
    data: bytes,
    check: Callable[..., object],
    code: str,
    keyword: str | None,
    text: str,
    *,
    max_upload_bytes: int = LIMIT,
) -> None:
    found = [f for f in _findings(data, max_upload_bytes) if f.code == code]
    assert found, f"no {code} finding"
    finding = found[0]
    assert finding.check == check.__name__
    assert finding.keyword == keyword
    assert text in finding.message
    for value in PLANTED_VALUES:
        assert value not in finding.message


def _sample(name: str) -> bytes:
    factory, _ = MALFORMED[name]
    return factory()


def _cases(*cases: tuple[str, str | None, str]) -> list[object]:
    return [pytest.param(name, keyword, text, id=name) for name, keyword, text in cases]


def test_check_empty_file_rejects_an_empty_upload() -> None:
    _assert_reported(
        b"", check_empty_file, codes.EMPTY_FILE, None, "The upload is empty (0 bytes)"
    )


@pytest.mark.parametrize(
    ("factory", "limit", "text"),
    [
        pytest.param(
            malformed.valid_ct,
            100,
            "more than the limit of 100 bytes",
            id="upload_larger_than_limit",
        ),
        pytest.param(
            malformed.deflate_bomb,
            1 << 20,
            "inflates to more than the limit of 1048576 bytes",
            id="deflate_bomb",
        ),
    ],
)
def test_check_size_limit_rejects_oversized_uploads(
    factory: Callable[[], bytes], limit: int, text: str
) -> None:
    data = factory()
    _assert_reported(
        data,
        check_size_limit,
        codes.SIZE_LIMIT_EXCEEDED,
        None,
        text,
        max_upload_bytes=limit,
    )
    assert [f.code for f in _findings(data, limit)] == [codes.SIZE_LIMIT_EXCEEDED]


@pytest.mark.parametrize(
    ("name", "code", "text"),
    [
        pytest.param("plain_text_file", codes.NOT_DICOM, "no 'DICM' prefix", id="text"),
        pytest.param("random_bytes", codes.NOT_DICOM, "not DICOM", id="random"),
        pytest.param(
            "data_set_without_file_meta",
            codes.FILE_META_MISSING,
            "without File Meta Information",
            id="data_set_without_file_meta",
        ),
    ],
)
def test_check_dicom_prefix_rejects_foreign_and_bare_uploads(
    name: str, code: str, text: str
) -> None:
    _assert_reported(_sample(name), check_dicom_prefix, code, None, text)


@pytest.mark.parametrize(
    ("name", "keyword", "text"),
    _cases(
        ("truncated_in_file_meta", None, "of the File Meta Information are too few"),
        (
            "truncated_in_data_set",
            "PatientName",
            "before the end of the value of PatientName",
        ),
        (
            "truncated_in_pixel_data",
            "PixelData",
            "100 bytes before the end of PixelData",
        ),
        ("deflated_stream_corrupt", None, "the deflated data set cannot be inflated"),
    ),
)
def test_check_truncation_rejects_truncated_uploads(
    name: str, keyword: str | None, text: str
) -> None:
    _assert_reported(_sample(name), check_truncation, codes.TRUNCATED, keyword, text)


@pytest.mark.parametrize(
    ("name", "keyword", "text"),
    _cases(
        (
            "missing_transfer_syntax_uid",
            "TransferSyntaxUID",
            "TransferSyntaxUID is missing or empty in the File Meta Information",
        ),
        (
            "missing_media_storage_sop_instance_uid",
            "MediaStorageSOPInstanceUID",
            "MediaStorageSOPInstanceUID is missing or empty",
        ),
        (
            "wrong_file_meta_group_length",
            "FileMetaInformationGroupLength",
            "FileMetaInformationGroupLength declares",
        ),
        ("file_meta_without_preamble", None, "lacks the 128-byte preamble"),
        (
            "implicit_data_set_labelled_explicit",
            "TransferSyntaxUID",
            "declares explicit VR but the data set is encoded in implicit VR",
        ),
    ),
)
def test_check_file_meta_rejects_malformed_file_meta(
    name: str, keyword: str | None, text: str
) -> None:
    _assert_reported(
        _sample(name), check_file_meta, codes.FILE_META_MALFORMED, keyword, text
    )


@pytest.mark.parametrize(
    ("name", "keyword", "text"),
    _cases(
        ("explicit_big_endian", "TransferSyntaxUID", "retired in PS3.5 A.3"),
        ("private_transfer_syntax", "TransferSyntaxUID", "the pipeline cannot decode"),
    ),
)
def test_check_transfer_syntax_rejects_unsupported_syntaxes(
    name: str, keyword: str, text: str
) -> None:
    data = _sample(name)
    _assert_reported(
        data, check_transfer_syntax, codes.TRANSFER_SYNTAX_UNSUPPORTED, keyword, text
    )
    assert "Explicit VR Little Endian" in _findings(data)[0].message


@pytest.mark.parametrize(
    ("name", "keyword", "text"),
    _cases(
        ("missing_sop_class_uid", "SOPClassUID", "SOPClassUID is missing or empty"),
        (
            "missing_sop_instance_uid",
            "SOPInstanceUID",
            "SOPInstanceUID is missing or empty",
        ),
        (
            "missing_study_instance_uid",
            "StudyInstanceUID",
            "PS3.3 C.7.2.1 General Study makes it Type 1",
        ),
        (
            "missing_series_instance_uid",
            "SeriesInstanceUID",
            "SeriesInstanceUID is missing or empty",
        ),
        (
            "empty_series_instance_uid",
            "SeriesInstanceUID",
            "SeriesInstanceUID is missing or empty",
        ),
    ),
)
def test_check_identifiers_rejects_missing_identifiers(
    name: str, keyword: str, text: str
) -> None:
    _assert_reported(
        _sample(name), check_identifiers, codes.IDENTIFIER_MISSING, keyword, text
    )


@pytest.mark.parametrize(
    ("name", "keyword", "text"),
    _cases(
        (
            "uid_with_leading_zero",
            "StudyInstanceUID",
            "a component with a leading zero",
        ),
        ("uid_too_long", "SeriesInstanceUID", "68 characters long, more than 64"),
        (
            "uid_with_letters",
            "StudyInstanceUID",
            "contains characters other than digits and dots",
        ),
        ("uid_with_empty_component", "StudyInstanceUID", "has an empty component"),
        (
            "media_storage_sop_instance_uid_with_leading_zero",
            "MediaStorageSOPInstanceUID",
            "MediaStorageSOPInstanceUID is not a valid UID",
        ),
    ),
)
def test_check_uid_syntax_rejects_malformed_uids(
    name: str, keyword: str, text: str
) -> None:
    _assert_reported(
        _sample(name), check_uid_syntax, codes.UID_MALFORMED, keyword, text
    )


@pytest.mark.parametrize(
    ("name", "keyword", "text"),
    _cases(
        (
            "sop_instance_uid_mismatch",
            "SOPInstanceUID",
            "MediaStorageSOPInstanceUID in the File Meta Information differs from "
            "SOPInstanceUID",
        ),
    ),
)
def test_check_sop_instance_uid_reports_mismatch(
    name: str, keyword: str, text: str
) -> None:
    _assert_reported(
        _sample(name),
        check_sop_instance_uid,
        codes.SOP_INSTANCE_UID_MISMATCH,
        keyword,
        text,
    )


@pytest.mark.parametrize(
    ("name", "keyword", "text"),
    _cases(
        (
            "sop_class_uid_mismatch",
            "SOPClassUID",
            "MediaStorageSOPClassUID in the File Meta Information differs from "
            "SOPClassUID",
        ),
    ),
)
def test_check_sop_class_uid_reports_mismatch(
    name: str, keyword: str, text: str
) -> None:
    _assert_reported(
        _sample(name), check_sop_class_uid, codes.SOP_CLASS_UID_MISMATCH, keyword, text
    )


@pytest.mark.parametrize(
    ("name", "keyword", "text"),
    _cases(
        (
            "private_element_without_creator",
            None,
            "Private element (0009,1010) has no Private Creator (0009,0010)",
        ),
    ),
)
def test_check_private_creators_reports_unreserved_blocks(
    name: str, keyword: None, text: str
) -> None:
    _assert_reported(
        _sample(name),
        check_private_creators,
        codes.PRIVATE_CREATOR_MISSING,
        keyword,
        text,
    )


@pytest.mark.parametrize(
    ("name", "code", "keyword", "text"),
    [
        pytest.param(
            "pixel_data_without_rows",
            codes.PIXEL_DATA_DESCRIPTION_MISSING,
            "Rows",
            "PixelData is present but Rows is missing or empty",
            id="pixel_data_without_rows",
        ),
        pytest.param(
            "pixel_data_without_bits_allocated",
            codes.PIXEL_DATA_DESCRIPTION_MISSING,
            "BitsAllocated",
            "but BitsAllocated is missing or empty",
            id="pixel_data_without_bits_allocated",
        ),
        pytest.param(
            "bits_allocated_not_multiple_of_eight",
            codes.PIXEL_DATA_DESCRIPTION_INVALID,
            "BitsAllocated",
            "BitsAllocated is not 1 or a multiple of 8",
            id="bits_allocated_not_multiple_of_eight",
        ),
        pytest.param(
            "zero_columns",
            codes.PIXEL_DATA_DESCRIPTION_INVALID,
            "Columns",
            "Columns is zero",
            id="zero_columns",
        ),
    ],
)
def test_check_pixel_description_rejects_unusable_descriptions(
    name: str, code: str, keyword: str, text: str
) -> None:
    data = _sample(name)
    _assert_reported(data, check_pixel_description, code, keyword, text)
    # The length cannot be judged without a usable description.
    assert codes.PIXEL_DATA_LENGTH_MISMATCH not in [f.code for f in _findings(data)]


@pytest.mark.parametrize(
    ("name", "keyword", "text"),
    _cases(
        (
            "pixel_data_shorter_than_rows_columns",
            "PixelData",
            "PixelData holds 512 bytes but Rows x Columns x SamplesPerPixel x "
            "NumberOfFrames x BitsAllocated needs 640 bytes",
        ),
        (
            "pixel_data_longer_than_rows_columns",
            "PixelData",
            "holds 512 bytes but",
        ),
        (
            "native_pixel_data_with_undefined_length",
            "PixelData",
            "PixelData has undefined length",
        ),
    ),
)
def test_check_native_pixel_length_rejects_mismatched_pixel_data(
    name: str, keyword: str, text: str
) -> None:
    _assert_reported(
        _sample(name),
        check_native_pixel_length,
        codes.PIXEL_DATA_LENGTH_MISMATCH,
        keyword,
        text,
    )


@pytest.mark.parametrize(
    ("name", "keyword", "text"),
    _cases(
        (
            "encapsulated_without_basic_offset_table",
            "PixelData",
            "the first item is a fragment, not a Basic Offset Table",
        ),
        (
            "encapsulated_with_wrong_item_tag",
            "PixelData",
            "item 1 has tag (FFFE,E00D) where the Item tag (FFFE,E000) belongs",
        ),
        (
            "encapsulated_fragment_past_end",
            "PixelData",
            "item 1 declares 488 bytes but only 424 remain in the file",
        ),
        (
            "encapsulated_without_sequence_delimiter",
            "PixelData",
            "the file ends before the Sequence Delimitation Item (FFFE,E0DD)",
        ),
        ("encapsulated_without_fragments", "PixelData", "it has no fragments"),
        (
            "encapsulated_with_defined_length",
            "PixelData",
            "it has a defined length",
        ),
        (
            "encapsulated_fewer_fragments_than_frames",
            "PixelData",
            "it has 1 fragments for 2 frames",
        ),
        (
            "basic_offset_table_not_multiple_of_four",
            "PixelData",
            "the Basic Offset Table is 6 bytes long, not a multiple of 4",
        ),
    ),
)
def test_check_encapsulated_fragments_rejects_malformed_items(
    name: str, keyword: str, text: str
) -> None:
    _assert_reported(
        _sample(name),
        check_encapsulated_fragments,
        codes.PIXEL_FRAGMENTS_MALFORMED,
        keyword,
        text,
    )
