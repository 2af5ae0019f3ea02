"""Property: no mutation of valid DICOM bytes makes validate() raise."""

from __future__ import annotations

import io
import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydicom.data import get_testdata_file

from lib.validation import CATALOGUE, ValidationReport, validate
from tests.support.malformed import VALID


def _bundled(name: str) -> bytes:
    path = get_testdata_file(name)
    assert path is not None
    with open(path, "rb") as file:
        return file.read()


SEEDS = [factory() for factory in VALID.values()] + [_bundled("MR_small_RLE.dcm")]

FUZZ = settings(
    max_examples=200,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    """A seed with a few flips, truncations, insertions or deletions.

    Positions favour the first 1,024 bytes, where the structure lives.
    """
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 4))):
        if not data:
            break
        bound = min(len(data), draw(st.sampled_from([1024, len(data)]))) - 1
        position = draw(st.integers(0, max(bound, 0)))
        operation = draw(st.sampled_from(["flip", "truncate", "insert", "delete"]))
        if operation == "flip":
            data[position] ^= draw(st.integers(1, 255))
        elif operation == "truncate":
            del data[position:]
        elif operation == "insert":
            data[position:position] = draw(st.binary(min_size=1, max_size=16))
        else:
            del data[position : position + draw(st.integers(1, 16))]
    return bytes(data)


def _assert_well_formed(report: ValidationReport) -> None:
    assert isinstance(report, ValidationReport)
    for finding in report.findings:
        assert finding.code in CATALOGUE
        json.dumps(finding.to_dict())


@FUZZ
@given(mutated())
def test_validate_never_raises_on_mutated_dicom(data: bytes) -> None:
    report = validate(io.BytesIO(data), size=len(data), max_upload_bytes=1 << 30)
    _assert_well_formed(report)


@FUZZ
@given(st.binary(max_size=2048), st.sampled_from([b"", b"\x00" * 128 + b"DICM"]))
def test_validate_never_raises_on_random_bytes(body: bytes, prefix: bytes) -> None:
    data = prefix + body
    report = validate(io.BytesIO(data), size=len(data), max_upload_bytes=1 << 30)
    _assert_well_formed(report)
    if not data:
        assert report.codes == ("EMPTY_FILE",)
