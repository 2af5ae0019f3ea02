"""Malformed DICOM samples, one per defect, each built from a valid synthetic CT.

Every sample carries planted values (:data:`PLANTED_VALUES`) that no finding
message may echo. :data:`MALFORMED` maps each sample's name to its factory and
the code validation must report first (the quarantine reason); the pipeline's
integration tests reuse it.
"""

from __future__ import annotations

import functools
import io
import random
import struct
import warnings
import zlib
from collections.abc import Callable
from typing import TypeVar

import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import generate_frames
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import dcmwrite, write_file_meta_info
from pydicom.pixels.utils import compress
from pydicom.uid import (
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ImplicitVRLittleEndian,
    MRImageStorage,
    RLELossless,
)

from lib.samples import SyntheticPatient, ct_instance
from lib.validation import codes

PLANTED_PATIENT_NAME = "LEAKCHECK^NAME"
PLANTED_PATIENT_ID = "LEAKCHECK-ID-4711"
PLANTED_STUDY_INSTANCE_UID = "1.2.826.0.1.3680043.10.1111.424242"
PLANTED_SERIES_INSTANCE_UID = "1.2.826.0.1.3680043.10.1111.535353"
PLANTED_SOP_INSTANCE_UID = "1.2.826.0.1.3680043.10.1111.646464"
PLANTED_OTHER_SOP_INSTANCE_UID = "1.2.826.0.1.3680043.10.1111.757575"
PLANTED_PRIVATE_TRANSFER_SYNTAX = "1.2.826.0.1.3680043.10.1111.868686"
UID_WITH_LEADING_ZERO = "1.2.826.0.1.3680043.10.1111.0424242"
UID_TOO_LONG = "1.2.826.0.1.3680043.10.1111." + "9" * 40
UID_WITH_LETTERS = "1.2.826.0.1.3680043.10.1111.LEAKCHECK"
UID_WITH_EMPTY_COMPONENT = "1.2.826.0.1.3680043.10.1111..424242"
PLANTED_PRIVATE_VALUE = "LEAKCHECK^PRIVATE"

#: Values a finding message must never contain.
PLANTED_VALUES = (
    PLANTED_PATIENT_NAME,
    PLANTED_PATIENT_ID,
    PLANTED_STUDY_INSTANCE_UID,
    PLANTED_SERIES_INSTANCE_UID,
    PLANTED_SOP_INSTANCE_UID,
    PLANTED_OTHER_SOP_INSTANCE_UID,
    PLANTED_PRIVATE_TRANSFER_SYNTAX,
    UID_WITH_LEADING_ZERO,
    UID_TOO_LONG,
    UID_WITH_LETTERS,
    UID_WITH_EMPTY_COMPONENT,
    PLANTED_PRIVATE_VALUE,
    "LEAKCHECK",
    "424242",
    "646464",
)

ROWS = COLUMNS = 16

_PIXEL_DATA_HEADER = b"\xe0\x7f\x10\x00OB\x00\x00"
_ITEM = 0xFFFEE000
_ITEM_DELIMITER = 0xFFFEE00D
_SEQUENCE_DELIMITER = 0xFFFEE0DD

_Factory = TypeVar("_Factory", bound=Callable[..., object])


def _quiet(factory: _Factory) -> _Factory:
    """Silence pydicom's warnings about the invalid values planted on purpose."""

    @functools.wraps(factory)
    def wrapper(*args: object, **kwargs: object) -> object:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return factory(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


@_quiet
def valid_dataset() -> Dataset:
    """The valid synthetic CT with the planted identifiers, as a data set."""
    data = ct_instance(SyntheticPatient(7), 1, 1, 1, rows=ROWS, columns=COLUMNS)
    dataset = pydicom.dcmread(io.BytesIO(data))
    dataset.PatientName = PLANTED_PATIENT_NAME
    dataset.PatientID = PLANTED_PATIENT_ID
    dataset.StudyInstanceUID = PLANTED_STUDY_INSTANCE_UID
    dataset.SeriesInstanceUID = PLANTED_SERIES_INSTANCE_UID
    dataset.SOPInstanceUID = PLANTED_SOP_INSTANCE_UID
    dataset.file_meta.MediaStorageSOPInstanceUID = PLANTED_SOP_INSTANCE_UID
    return dataset


@_quiet
def _write(
    dataset: Dataset, *, implicit_vr: bool = False, little_endian: bool = True
) -> bytes:
    buffer = io.BytesIO()
    dcmwrite(buffer, dataset, implicit_vr=implicit_vr, little_endian=little_endian)
    return buffer.getvalue()


def _edited(edit: Callable[[Dataset], object]) -> bytes:
    dataset = valid_dataset()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        edit(dataset)
    return _write(dataset)


def _part10(meta: FileMetaDataset, body: bytes) -> bytes:
    """Preamble, prefix, ``meta`` as given, then ``body`` verbatim."""
    buffer = DicomBytesIO()
    buffer.is_little_endian, buffer.is_implicit_VR = True, False
    write_file_meta_info(buffer, meta, enforce_standard=True)
    return b"\x00" * 128 + b"DICM" + buffer.getvalue() + body


def _data_set_only(dataset: Dataset, *, implicit_vr: bool) -> bytes:
    bare = Dataset(dataset)
    return _write(bare, implicit_vr=implicit_vr)


def _offset_of(data: bytes, marker: bytes) -> int:
    offset = data.find(marker)
    if offset < 0:
        raise ValueError("marker not found in the sample")
    return offset


# -- samples that are valid ------------------------------------------------------


def valid_ct() -> bytes:
    """The valid synthetic CT (Explicit VR Little Endian)."""
    return _write(valid_dataset())


def valid_implicit_ct() -> bytes:
    """The valid synthetic CT in Implicit VR Little Endian."""
    dataset = valid_dataset()
    dataset.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian
    return _write(dataset, implicit_vr=True)


def valid_deflated_ct() -> bytes:
    """The valid synthetic CT in Deflated Explicit VR Little Endian."""
    dataset = valid_dataset()
    dataset.file_meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian
    return _write(dataset)


def _rle_frame() -> bytes:
    dataset = valid_dataset()
    compress(dataset, RLELossless, encoding_plugin="pydicom")
    return next(generate_frames(dataset.PixelData, number_of_frames=1))


def _item(payload: bytes, tag: int = _ITEM, length: int | None = None) -> bytes:
    size = len(payload) if length is None else length
    return struct.pack("<HHL", tag >> 16, tag & 0xFFFF, size) + payload


def _encapsulated(
    items: list[bytes], *, delimiter: bool = True, frames: int = 1
) -> bytes:
    """An RLE Lossless CT whose pixel data consists of ``items``, written by hand."""
    dataset = valid_dataset()
    del dataset.PixelData
    dataset.file_meta.TransferSyntaxUID = RLELossless
    if frames != 1:
        dataset.NumberOfFrames = frames
    value = b"".join(items)
    if delimiter:
        value += _item(b"", _SEQUENCE_DELIMITER)
    return _write(dataset) + _PIXEL_DATA_HEADER + b"\xff\xff\xff\xff" + value


def valid_rle_ct() -> bytes:
    """The synthetic CT compressed with RLE Lossless, empty Basic Offset Table."""
    return _encapsulated([_item(b""), _item(_rle_frame())])


VALID: dict[str, Callable[[], bytes]] = {
    "valid_ct": valid_ct,
    "valid_implicit_ct": valid_implicit_ct,
    "valid_deflated_ct": valid_deflated_ct,
    "valid_rle_ct": valid_rle_ct,
}


# -- samples that are not DICOM or cannot be read --------------------------------


def empty_file() -> bytes:
    return b""


def plain_text_file() -> bytes:
    return f"Dear colleague, the images of {PLANTED_PATIENT_NAME}\n".encode() * 20


def random_bytes() -> bytes:
    return random.Random(4711).randbytes(4096)


def data_set_without_file_meta() -> bytes:
    """A bare Implicit VR data set, as some older PACS exports write."""
    return _data_set_only(valid_dataset(), implicit_vr=True)


def truncated_in_file_meta() -> bytes:
    return valid_ct()[:160]


def truncated_in_data_set() -> bytes:
    data = valid_ct()
    return data[: _offset_of(data, PLANTED_PATIENT_NAME.encode()) + 4]


def truncated_in_pixel_data() -> bytes:
    return valid_ct()[:-100]


def deflated_stream_corrupt() -> bytes:
    data = valid_deflated_ct()
    return data[: len(data) // 2 + 200]


# -- File Meta Information -----------------------------------------------------------


def missing_transfer_syntax_uid() -> bytes:
    dataset = valid_dataset()
    del dataset.file_meta.TransferSyntaxUID
    return _write(dataset)


def missing_media_storage_sop_instance_uid() -> bytes:
    return _edited(
        lambda dataset: delattr(dataset.file_meta, "MediaStorageSOPInstanceUID")
    )


def wrong_file_meta_group_length() -> bytes:
    data = bytearray(valid_ct())
    # (0002,0000) UL is the first element after the prefix: tag, VR, length, value.
    (declared,) = struct.unpack_from("<L", data, 140)
    struct.pack_into("<L", data, 140, declared + 6)
    return bytes(data)


def file_meta_without_preamble() -> bytes:
    """Group 0002 at byte 0: no 128-byte preamble and no DICM prefix."""
    return valid_ct()[132:]


def implicit_data_set_labelled_explicit() -> bytes:
    dataset = valid_dataset()
    body = _data_set_only(dataset, implicit_vr=True)
    return _part10(dataset.file_meta, body)


# -- transfer syntax --------------------------------------------------------------


def explicit_big_endian() -> bytes:
    dataset = valid_dataset()
    dataset.file_meta.TransferSyntaxUID = ExplicitVRBigEndian
    return _write(dataset, little_endian=False)


def private_transfer_syntax() -> bytes:
    dataset = valid_dataset()
    body = _data_set_only(dataset, implicit_vr=False)
    dataset.file_meta.TransferSyntaxUID = PLANTED_PRIVATE_TRANSFER_SYNTAX
    return _part10(dataset.file_meta, body)


# -- identifiers --------------------------------------------------------------------


def missing_sop_class_uid() -> bytes:
    return _edited(lambda dataset: delattr(dataset, "SOPClassUID"))


def missing_sop_instance_uid() -> bytes:
    return _edited(lambda dataset: delattr(dataset, "SOPInstanceUID"))


def missing_study_instance_uid() -> bytes:
    return _edited(lambda dataset: delattr(dataset, "StudyInstanceUID"))


def missing_series_instance_uid() -> bytes:
    return _edited(lambda dataset: delattr(dataset, "SeriesInstanceUID"))


def empty_series_instance_uid() -> bytes:
    return _edited(lambda dataset: setattr(dataset, "SeriesInstanceUID", ""))


def uid_with_leading_zero() -> bytes:
    return _edited(
        lambda dataset: setattr(dataset, "StudyInstanceUID", UID_WITH_LEADING_ZERO)
    )


def uid_too_long() -> bytes:
    return _edited(lambda dataset: setattr(dataset, "SeriesInstanceUID", UID_TOO_LONG))


def uid_with_letters() -> bytes:
    return _edited(
        lambda dataset: setattr(dataset, "StudyInstanceUID", UID_WITH_LETTERS)
    )


def uid_with_empty_component() -> bytes:
    return _edited(
        lambda dataset: setattr(dataset, "StudyInstanceUID", UID_WITH_EMPTY_COMPONENT)
    )


def media_storage_sop_instance_uid_with_leading_zero() -> bytes:
    return _edited(
        lambda dataset: setattr(
            dataset.file_meta, "MediaStorageSOPInstanceUID", UID_WITH_LEADING_ZERO
        )
    )


def sop_instance_uid_mismatch() -> bytes:
    return _edited(
        lambda dataset: setattr(
            dataset.file_meta,
            "MediaStorageSOPInstanceUID",
            PLANTED_OTHER_SOP_INSTANCE_UID,
        )
    )


def sop_class_uid_mismatch() -> bytes:
    return _edited(
        lambda dataset: setattr(
            dataset.file_meta, "MediaStorageSOPClassUID", MRImageStorage
        )
    )


def private_element_without_creator() -> bytes:
    return _edited(
        lambda dataset: dataset.add_new(0x00091010, "LO", PLANTED_PRIVATE_VALUE)
    )


# -- native pixel data ---------------------------------------------------------------


def pixel_data_shorter_than_rows_columns() -> bytes:
    return _edited(lambda dataset: setattr(dataset, "Rows", ROWS + 4))


def pixel_data_longer_than_rows_columns() -> bytes:
    return _edited(lambda dataset: setattr(dataset, "Rows", ROWS // 2))


def pixel_data_without_rows() -> bytes:
    return _edited(lambda dataset: delattr(dataset, "Rows"))


def pixel_data_without_bits_allocated() -> bytes:
    return _edited(lambda dataset: delattr(dataset, "BitsAllocated"))


def bits_allocated_not_multiple_of_eight() -> bytes:
    return _edited(lambda dataset: setattr(dataset, "BitsAllocated", 12))


def zero_columns() -> bytes:
    return _edited(lambda dataset: setattr(dataset, "Columns", 0))


def native_pixel_data_with_undefined_length() -> bytes:
    data = valid_ct()
    start = _offset_of(data, b"\xe0\x7f\x10\x00OW")
    pixels = data[start + 12 :]
    items = _item(b"") + _item(pixels) + _item(b"", _SEQUENCE_DELIMITER)
    return data[:start] + _PIXEL_DATA_HEADER + b"\xff\xff\xff\xff" + items


# -- encapsulated pixel data ---------------------------------------------------------


def encapsulated_without_basic_offset_table() -> bytes:
    return _encapsulated([_item(_rle_frame())])


def encapsulated_with_wrong_item_tag() -> bytes:
    return _encapsulated([_item(b""), _item(_rle_frame(), _ITEM_DELIMITER)])


def encapsulated_fragment_past_end() -> bytes:
    frame = _rle_frame()
    return _encapsulated(
        [_item(b""), _item(frame, length=len(frame) + 64)], delimiter=False
    )


def encapsulated_without_sequence_delimiter() -> bytes:
    return _encapsulated([_item(b""), _item(_rle_frame())], delimiter=False)


def encapsulated_without_fragments() -> bytes:
    return _encapsulated([_item(b"")])


def encapsulated_with_defined_length() -> bytes:
    data = valid_rle_ct()
    start = _offset_of(data, _PIXEL_DATA_HEADER + b"\xff\xff\xff\xff")
    value = data[start + 12 :]
    return data[: start + 8] + struct.pack("<L", len(value)) + value


def encapsulated_fewer_fragments_than_frames() -> bytes:
    return _encapsulated([_item(b""), _item(_rle_frame())], frames=2)


def basic_offset_table_not_multiple_of_four() -> bytes:
    return _encapsulated([_item(b"\x00" * 6), _item(_rle_frame())])


def deflate_bomb() -> bytes:
    """A deflated data set that inflates to 64 MiB of trailing padding."""
    dataset = valid_dataset()
    del dataset.PixelData
    body = _data_set_only(dataset, implicit_vr=False)
    padding = b"\xfc\xff\xfc\xffOB\x00\x00" + struct.pack("<L", 64 << 20)
    compressor = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    deflated = compressor.compress(body + padding)
    zeros = b"\x00" * (1 << 20)
    for _ in range(64):
        deflated += compressor.compress(zeros)
    deflated += compressor.flush()
    dataset.file_meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian
    return _part10(dataset.file_meta, deflated)


#: Each defect's sample and the code reported first for it.
MALFORMED: dict[str, tuple[Callable[[], bytes], str]] = {
    "empty_file": (empty_file, codes.EMPTY_FILE),
    "plain_text_file": (plain_text_file, codes.NOT_DICOM),
    "random_bytes": (random_bytes, codes.NOT_DICOM),
    "data_set_without_file_meta": (data_set_without_file_meta, codes.FILE_META_MISSING),
    "truncated_in_file_meta": (truncated_in_file_meta, codes.TRUNCATED),
    "truncated_in_data_set": (truncated_in_data_set, codes.TRUNCATED),
    "truncated_in_pixel_data": (truncated_in_pixel_data, codes.TRUNCATED),
    "deflated_stream_corrupt": (deflated_stream_corrupt, codes.TRUNCATED),
    "missing_transfer_syntax_uid": (
        missing_transfer_syntax_uid,
        codes.FILE_META_MALFORMED,
    ),
    "missing_media_storage_sop_instance_uid": (
        missing_media_storage_sop_instance_uid,
        codes.FILE_META_MALFORMED,
    ),
    "wrong_file_meta_group_length": (
        wrong_file_meta_group_length,
        codes.FILE_META_MALFORMED,
    ),
    "file_meta_without_preamble": (
        file_meta_without_preamble,
        codes.FILE_META_MALFORMED,
    ),
    "implicit_data_set_labelled_explicit": (
        implicit_data_set_labelled_explicit,
        codes.FILE_META_MALFORMED,
    ),
    "explicit_big_endian": (explicit_big_endian, codes.TRANSFER_SYNTAX_UNSUPPORTED),
    "private_transfer_syntax": (
        private_transfer_syntax,
        codes.TRANSFER_SYNTAX_UNSUPPORTED,
    ),
    "missing_sop_class_uid": (missing_sop_class_uid, codes.IDENTIFIER_MISSING),
    "missing_sop_instance_uid": (missing_sop_instance_uid, codes.IDENTIFIER_MISSING),
    "missing_study_instance_uid": (
        missing_study_instance_uid,
        codes.IDENTIFIER_MISSING,
    ),
    "missing_series_instance_uid": (
        missing_series_instance_uid,
        codes.IDENTIFIER_MISSING,
    ),
    "empty_series_instance_uid": (empty_series_instance_uid, codes.IDENTIFIER_MISSING),
    "uid_with_leading_zero": (uid_with_leading_zero, codes.UID_MALFORMED),
    "uid_too_long": (uid_too_long, codes.UID_MALFORMED),
    "uid_with_letters": (uid_with_letters, codes.UID_MALFORMED),
    "uid_with_empty_component": (uid_with_empty_component, codes.UID_MALFORMED),
    "media_storage_sop_instance_uid_with_leading_zero": (
        media_storage_sop_instance_uid_with_leading_zero,
        codes.UID_MALFORMED,
    ),
    "sop_instance_uid_mismatch": (
        sop_instance_uid_mismatch,
        codes.SOP_INSTANCE_UID_MISMATCH,
    ),
    "sop_class_uid_mismatch": (sop_class_uid_mismatch, codes.SOP_CLASS_UID_MISMATCH),
    "private_element_without_creator": (
        private_element_without_creator,
        codes.PRIVATE_CREATOR_MISSING,
    ),
    "pixel_data_shorter_than_rows_columns": (
        pixel_data_shorter_than_rows_columns,
        codes.PIXEL_DATA_LENGTH_MISMATCH,
    ),
    "pixel_data_longer_than_rows_columns": (
        pixel_data_longer_than_rows_columns,
        codes.PIXEL_DATA_LENGTH_MISMATCH,
    ),
    "native_pixel_data_with_undefined_length": (
        native_pixel_data_with_undefined_length,
        codes.PIXEL_DATA_LENGTH_MISMATCH,
    ),
    "pixel_data_without_rows": (
        pixel_data_without_rows,
        codes.PIXEL_DATA_DESCRIPTION_MISSING,
    ),
    "pixel_data_without_bits_allocated": (
        pixel_data_without_bits_allocated,
        codes.PIXEL_DATA_DESCRIPTION_MISSING,
    ),
    "bits_allocated_not_multiple_of_eight": (
        bits_allocated_not_multiple_of_eight,
        codes.PIXEL_DATA_DESCRIPTION_INVALID,
    ),
    "zero_columns": (zero_columns, codes.PIXEL_DATA_DESCRIPTION_INVALID),
    "encapsulated_without_basic_offset_table": (
        encapsulated_without_basic_offset_table,
        codes.PIXEL_FRAGMENTS_MALFORMED,
    ),
    "encapsulated_with_wrong_item_tag": (
        encapsulated_with_wrong_item_tag,
        codes.PIXEL_FRAGMENTS_MALFORMED,
    ),
    "encapsulated_fragment_past_end": (
        encapsulated_fragment_past_end,
        codes.PIXEL_FRAGMENTS_MALFORMED,
    ),
    "encapsulated_without_sequence_delimiter": (
        encapsulated_without_sequence_delimiter,
        codes.PIXEL_FRAGMENTS_MALFORMED,
    ),
    "encapsulated_without_fragments": (
        encapsulated_without_fragments,
        codes.PIXEL_FRAGMENTS_MALFORMED,
    ),
    "encapsulated_with_defined_length": (
        encapsulated_with_defined_length,
        codes.PIXEL_FRAGMENTS_MALFORMED,
    ),
    "encapsulated_fewer_fragments_than_frames": (
        encapsulated_fewer_fragments_than_frames,
        codes.PIXEL_FRAGMENTS_MALFORMED,
    ),
    "basic_offset_table_not_multiple_of_four": (
        basic_offset_table_not_multiple_of_four,
        codes.PIXEL_FRAGMENTS_MALFORMED,
    ),
}
