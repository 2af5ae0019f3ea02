"""Output passes dciodvfy (dicom3tools) with no error the input did not have."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from pydicom.data import get_testdata_file

from lib.deid import PROFILE_NAMES
from lib.samples import SyntheticPatient, ct_instance
from tests.lib.deid.builders import deidentifier
from tests.lib.deid.test_planted import planted_latin1, to_part10

DCIODVFY = shutil.which("dciodvfy")
# `make test` installs dicom3tools; without it these tests fail rather than skip.
_VALUE = re.compile(r"= <[^>]*>")


def errors(path: Path) -> set[str]:
    assert DCIODVFY is not None, "dciodvfy missing: apt-get install dicom3tools"
    run = subprocess.run(
        [DCIODVFY, str(path)], capture_output=True, text=True, check=False, timeout=60
    )
    lines = (run.stdout + run.stderr).splitlines()
    # Values differ by design (pseudonyms); compare the findings, not the values.
    return {_VALUE.sub("= <>", line) for line in lines if line.startswith("Error")}


def _testdata(name: str) -> bytes:
    path = get_testdata_file(name)
    assert path is not None
    return Path(path).read_bytes()


INPUTS = {
    "synthetic-ct": lambda: ct_instance(
        SyntheticPatient(1), 1, 1, 1, rows=16, columns=16
    ),
    "planted-ct": lambda: to_part10(planted_latin1()[0]),
    "CT_small": lambda: _testdata("CT_small.dcm"),
    "MR_small": lambda: _testdata("MR_small.dcm"),
    "rtplan": lambda: _testdata("rtplan.dcm"),
}


@pytest.mark.parametrize("profile", PROFILE_NAMES)
@pytest.mark.parametrize("name", sorted(INPUTS))
def test_adds_no_dciodvfy_error(name: str, profile: str, tmp_path: Path) -> None:
    data = INPUTS[name]()
    source = tmp_path / "in.dcm"
    source.write_bytes(data)
    target = tmp_path / "out.dcm"
    target.write_bytes(deidentifier(profile).deidentify(data).data)

    assert errors(target) - errors(source) == set()
