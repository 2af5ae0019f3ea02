"""``medlake deid IN OUT`` on folders."""

from __future__ import annotations

import argparse
import io
from pathlib import Path

import pydicom
import pytest

from cli.commands import deid as deid_command
from lib.deid import Deidentifier, load_profile
from tests.lib.deid.builders import KEY, base_dataset, to_part10


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    deid_command.register(parser.add_subparsers())
    return parser.parse_args(["deid", *argv])


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    path = tmp_path / "key.hex"
    path.write_text(KEY.secret.hex())
    return path


@pytest.fixture
def source(tmp_path: Path) -> Path:
    folder = tmp_path / "in" / "nested"
    folder.mkdir(parents=True)
    for number in range(3):
        ds = base_dataset()
        ds.SOPInstanceUID = f"1.2.826.0.1.3680043.8.498.2{number}"
        ds.InstanceNumber = number + 1
        (folder / f"i{number}.dcm").write_bytes(to_part10(ds))
    (folder / "notes.txt").write_text("not dicom")
    return tmp_path / "in"


@pytest.mark.parametrize("workers", ["1", "2"], ids=["inline", "processes"])
def test_writes_lake_layout_and_reports_failures(
    source: Path,
    tmp_path: Path,
    key_file: Path,
    workers: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(deid_command, "CHUNK_SIZE", 1)
    out = tmp_path / "out"
    args = parse(
        str(source),
        str(out),
        "--key-file",
        str(key_file),
        "--key-version",
        "test-1",
        "--workers",
        workers,
        "--no-progress",
    )

    status = args.func(args)

    err = capsys.readouterr().err
    assert status == 1
    written = sorted(out.rglob("*.dcm"))
    assert len(written) == 3
    expected = Deidentifier(load_profile("research"), KEY).deidentify(
        (source / "nested" / "i0.dcm").read_bytes()
    )
    target = deid_command.output_path(
        out,
        expected.study_instance_uid,
        expected.series_instance_uid,
        expected.sop_instance_uid,
    )
    assert target.read_bytes() == expected.data
    assert "DEID_UNREADABLE" in err and "notes.txt" in err
    assert "3 written, 1 failed" in err and "MB/s" in err
    assert "Plantman" not in err


def test_refuses_to_run_without_a_key(
    source: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("MEDLAKE_DEID_KEY", raising=False)
    monkeypatch.delenv("MEDLAKE_KEYVAULT_URL", raising=False)
    monkeypatch.chdir(tmp_path)  # no local.settings.json here
    args = parse(str(source), str(tmp_path / "out"), "--no-progress")
    assert args.func(args) == 2
    assert "refusing to run without a valid key" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_rerun_writes_identical_files(
    source: Path, tmp_path: Path, key_file: Path
) -> None:
    out = tmp_path / "out"
    argv = (str(source), str(out), "--key-file", str(key_file), "--no-progress")
    args = parse(*argv, "--workers", "1")
    args.func(args)
    first = {p: p.read_bytes() for p in out.rglob("*.dcm")}
    args.func(args)
    assert {p: p.read_bytes() for p in out.rglob("*.dcm")} == first
    for data in first.values():
        assert pydicom.dcmread(io.BytesIO(data)).PatientIdentityRemoved == "YES"
