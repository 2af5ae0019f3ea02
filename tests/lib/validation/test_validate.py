"""validate() as a whole: valid inputs, the report, and the catalogue's coverage."""

from __future__ import annotations

import io
import json
import tempfile
import warnings
from collections.abc import Callable

import pytest
from pydicom.data import get_testdata_file
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian

from lib.samples import SyntheticPatient, ct_instance
from lib.validation import (
    CATALOGUE,
    CHECKS,
    Policy,
    Severity,
    ValidationReport,
    Verdict,
    codes,
    validate,
)
from tests.support.malformed import MALFORMED, PLANTED_VALUES, VALID

LIMIT = 1 << 30
BUNDLED = (
    "CT_small.dcm",
    "MR_small.dcm",
    "JPEG2000.dcm",
    "MR_small_RLE.dcm",
    "rtplan.dcm",
)


def _validate(data: bytes) -> ValidationReport:
    return validate(io.BytesIO(data), size=len(data), max_upload_bytes=LIMIT)


def _bundled(name: str) -> bytes:
    path = get_testdata_file(name)
    assert path is not None, f"{name} is not bundled with pydicom"
    with open(path, "rb") as file:
        return file.read()


def test_accepts_the_synthetic_ct_without_findings() -> None:
    data = ct_instance(SyntheticPatient(1), 1, 1, 1, rows=64, columns=64)
    report = _validate(data)
    assert report.findings == ()
    assert report.transfer_syntax_uid == ExplicitVRLittleEndian
    assert report.sop_class_uid == CTImageStorage


@pytest.mark.parametrize("name", list(VALID))
def test_accepts_valid_synthetic_samples_without_findings(name: str) -> None:
    assert _validate(VALID[name]()).findings == ()


@pytest.mark.parametrize("name", BUNDLED)
def test_accepts_pydicom_bundled_files(name: str) -> None:
    report = _validate(_bundled(name))
    decision = Policy.from_setting("").decide(report)
    assert decision.verdict is Verdict.ACCEPT, report.findings
    assert report.transfer_syntax_uid is not None
    assert report.sop_class_uid is not None


def test_warns_about_the_sop_instance_uid_mismatch_in_pydicom_rtplan() -> None:
    # pydicom's rtplan.dcm really has different UIDs in File Meta and data set.
    report = _validate(_bundled("rtplan.dcm"))
    assert report.codes == (codes.SOP_INSTANCE_UID_MISMATCH,)


@pytest.mark.parametrize("name", list(MALFORMED))
def test_reports_each_defect_first_and_without_values(name: str) -> None:
    factory, code = MALFORMED[name]
    report = _validate(factory())
    assert report.findings, "no findings"
    assert report.findings[0].code == code
    for finding in report.findings:
        for value in PLANTED_VALUES:
            assert value not in finding.message
    decision = Policy.from_setting("").decide(report)
    if CATALOGUE[code].default is Severity.REJECT:
        assert decision.verdict is Verdict.REJECT
        assert decision.primary == report.findings[0]
    else:
        assert decision.verdict is Verdict.ACCEPT
        assert decision.warnings[0].code == code


def test_every_code_in_the_catalogue_has_a_sample() -> None:
    sampled = {code for _, code in MALFORMED.values()} | {codes.SIZE_LIMIT_EXCEEDED}
    assert sampled == set(CATALOGUE)


def test_every_finding_names_a_check_of_the_catalogue() -> None:
    names = {check.__name__ for check in CHECKS}
    for factory, _ in MALFORMED.values():
        assert {finding.check for finding in _validate(factory()).findings} <= names


def test_report_is_json_safe() -> None:
    factory, _ = MALFORMED["pixel_data_shorter_than_rows_columns"]
    document = json.loads(json.dumps(_validate(factory()).to_dict()))
    assert document["findings"][0] == {
        "code": codes.PIXEL_DATA_LENGTH_MISMATCH,
        "check": "check_native_pixel_length",
        "message": document["findings"][0]["message"],
        "keyword": "PixelData",
    }
    assert document["transfer_syntax_uid"] == ExplicitVRLittleEndian


def test_report_falls_back_to_media_storage_sop_class_uid() -> None:
    factory, _ = MALFORMED["missing_sop_class_uid"]
    assert _validate(factory()).sop_class_uid == CTImageStorage


def test_report_omits_a_malformed_transfer_syntax_uid() -> None:
    data = VALID["valid_ct"]()
    good = ExplicitVRLittleEndian.encode() + b"\x00"
    bad = b"1.2.840.10008.1.2.01"
    assert len(good) == len(bad)
    report = _validate(data.replace(good, bad, 1))
    assert report.transfer_syntax_uid is None
    assert codes.UID_MALFORMED in report.codes


def test_measures_the_size_when_it_is_not_given() -> None:
    data = VALID["valid_ct"]()
    report = validate(io.BytesIO(data), max_upload_bytes=len(data) - 1)
    assert report.codes == (codes.SIZE_LIMIT_EXCEEDED,)


def test_validates_a_spooled_temporary_file() -> None:
    data = VALID["valid_rle_ct"]()
    with tempfile.TemporaryFile() as stream:
        stream.write(data)
        stream.seek(0)
        report = validate(stream, size=len(data), max_upload_bytes=LIMIT)
    assert report.findings == ()


@pytest.mark.parametrize(
    "factory",
    [MALFORMED[name][0] for name in ("truncated_in_data_set", "random_bytes")]
    + [VALID["valid_deflated_ct"]],
    ids=["truncated_in_data_set", "random_bytes", "valid_deflated_ct"],
)
def test_lets_no_pydicom_warning_escape(factory: Callable[[], bytes]) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _validate(factory())
