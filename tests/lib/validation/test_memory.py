"""Validation reads headers only: large pixel data stays on disk."""

from __future__ import annotations

import io
import struct
import tracemalloc
from pathlib import Path

from pydicom.filewriter import dcmwrite
from pydicom.uid import ExplicitVRLittleEndian, RLELossless

from lib.validation import validate
from tests.support.malformed import valid_dataset

MIB = 1 << 20
PEAK_LIMIT = 20 * MIB


def _header(
    transfer_syntax: str = ExplicitVRLittleEndian, **attributes: object
) -> bytes:
    """The synthetic CT up to (not including) its pixel data element."""
    dataset = valid_dataset()
    del dataset.PixelData
    dataset.file_meta.TransferSyntaxUID = transfer_syntax
    for keyword, value in attributes.items():
        setattr(dataset, keyword, value)
    buffer = io.BytesIO()
    dcmwrite(buffer, dataset)
    return buffer.getvalue()


def _peak_while_validating(path: Path) -> tuple[tuple[str, ...], int]:
    size = path.stat().st_size
    with path.open("rb") as stream:
        tracemalloc.start()
        try:
            report = validate(stream, size=size, max_upload_bytes=1 << 32)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    return report.codes, peak


def test_does_not_read_200_mib_of_native_pixel_data(tmp_path: Path) -> None:
    rows = columns = 10240  # 16-bit: 200 MiB
    length = rows * columns * 2
    path = tmp_path / "large.dcm"
    with path.open("wb") as file:
        file.write(_header(Rows=rows, Columns=columns))
        file.write(b"\xe0\x7f\x10\x00OW\x00\x00" + struct.pack("<L", length))
        # A sparse file: the pixel bytes exist without being written.
        file.seek(length - 1, 1)
        file.write(b"\x00")

    found, peak = _peak_while_validating(path)

    assert found == ()
    assert peak < PEAK_LIMIT


def test_walks_200_mib_of_encapsulated_fragments_by_header(tmp_path: Path) -> None:
    frames, fragment = 100, 2 * MIB
    path = tmp_path / "large_rle.dcm"
    with path.open("wb") as file:
        file.write(_header(RLELossless, Rows=1024, Columns=1024, NumberOfFrames=frames))
        file.write(b"\xe0\x7f\x10\x00OB\x00\x00\xff\xff\xff\xff")
        file.write(struct.pack("<HHL", 0xFFFE, 0xE000, 0))
        for _ in range(frames):
            file.write(struct.pack("<HHL", 0xFFFE, 0xE000, fragment))
            file.seek(fragment, 1)
        file.write(struct.pack("<HHL", 0xFFFE, 0xE0DD, 0))

    found, peak = _peak_while_validating(path)

    assert found == ()
    assert peak < PEAK_LIMIT
