"""Deliberately broken uploads for the demo, each named for its defect."""

from __future__ import annotations

import io
from collections.abc import Callable

import pydicom

from lib.samples.synthetic import SyntheticPatient, ct_instance


def _valid() -> bytes:
    return ct_instance(SyntheticPatient(9001), 1, 1, 1, rows=64, columns=64)


def _edit(change: Callable[[pydicom.Dataset], None]) -> bytes:
    ds = pydicom.dcmread(io.BytesIO(_valid()))
    change(ds)
    buffer = io.BytesIO()
    ds.save_as(buffer)
    return buffer.getvalue()


def empty_file() -> bytes:
    return b""


def not_dicom() -> bytes:
    return b"%PDF-1.7\n" + b"this is a report, not an image\n" * 20


def truncated_in_pixel_data() -> bytes:
    data = _valid()
    return data[: len(data) - 1000]


def missing_study_instance_uid() -> bytes:
    return _edit(lambda ds: delattr(ds, "StudyInstanceUID"))


def pixel_data_shorter_than_rows_columns() -> bytes:
    def shorten(ds: pydicom.Dataset) -> None:
        ds.PixelData = ds.PixelData[:-512]

    return _edit(shorten)


BROKEN: dict[str, Callable[[], bytes]] = {
    "empty_file": empty_file,
    "not_dicom": not_dicom,
    "truncated_in_pixel_data": truncated_in_pixel_data,
    "missing_study_instance_uid": missing_study_instance_uid,
    "pixel_data_shorter_than_rows_columns": pixel_data_shorter_than_rows_columns,
}
