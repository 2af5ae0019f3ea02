"""``medlake ingest`` and ``medlake validate`` as a user runs them (subprocesses)."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
from azure.storage.blob import BlobServiceClient

from lib.samples import SyntheticPatient, ct_instance
from lib.samples.broken import BROKEN
from lib.storage import INCOMING, RAW, raw_blob_name

REPO_ROOT = Path(__file__).resolve().parents[2]


def medlake(
    *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    environment = {
        k: v for k, v in os.environ.items() if not k.startswith(("MEDLAKE_", "Azure"))
    }
    environment.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "cli", *args],
        cwd=REPO_ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    root = tmp_path / "export" / "DOE^JOHN"
    root.mkdir(parents=True)
    for n in range(1, 6):
        data = ct_instance(SyntheticPatient(n), 1, 1, n, rows=16, columns=16)
        (root / f"IMG{n:04d}.dcm").write_bytes(data)
    (root / ".DS_Store").write_bytes(b"junk")
    return tmp_path / "export"


def incoming_names(service: BlobServiceClient) -> list[str]:
    return sorted(b.name for b in service.get_container_client(INCOMING).list_blobs())


def test_ingest_uploads_a_folder_by_content_and_skips_on_rerun(
    folder: Path, blob_service: BlobServiceClient, azurite_connection_string: str
) -> None:
    env = {"MEDLAKE_STORAGE_CONNECTION": azurite_connection_string}

    first = medlake("ingest", str(folder), env=env)
    second = medlake("ingest", str(folder), env=env)

    assert first.returncode == 0, first.stderr
    assert "uploaded 5 file(s), skipped 0" in first.stdout
    assert "uploaded 0 file(s), skipped 5" in second.stdout
    expected = sorted(
        f"uploads/{hashlib.sha256(p.read_bytes()).hexdigest()}.dcm"
        for p in folder.rglob("*.dcm")
    )
    assert incoming_names(blob_service) == expected
    # Folder and file names (often patient names in PACS exports) never reach
    # blob names.
    assert not any("DOE" in name for name in incoming_names(blob_service))
    assert "uploading" in first.stderr  # the progress bar


def test_ingest_skips_content_already_archived(
    folder: Path, blob_service: BlobServiceClient, azurite_connection_string: str
) -> None:
    archived = next(folder.rglob("IMG0001.dcm")).read_bytes()
    sha = hashlib.sha256(archived).hexdigest()
    blob_service.get_blob_client(RAW, raw_blob_name(sha)).upload_blob(archived)

    result = medlake(
        "ingest",
        str(folder),
        env={"MEDLAKE_STORAGE_CONNECTION": azurite_connection_string},
    )

    assert "uploaded 4 file(s), skipped 1" in result.stdout
    assert f"uploads/{sha}.dcm" not in incoming_names(blob_service)


def test_ingest_reports_a_missing_path(azurite_connection_string: str) -> None:
    result = medlake(
        "ingest",
        "/nonexistent/folder",
        env={"MEDLAKE_STORAGE_CONNECTION": azurite_connection_string},
    )

    assert result.returncode != 0
    assert "no such file or folder: /nonexistent/folder" in result.stderr


def test_ingest_says_when_storage_is_unreachable(folder: Path) -> None:
    from tests.support.azurite import connection_string, free_port

    result = medlake(
        "ingest",
        str(folder),
        env={"MEDLAKE_STORAGE_CONNECTION": connection_string(free_port())},
    )

    assert result.returncode == 2
    assert "cannot reach blob storage; is the local stack up" in result.stderr
    assert "Traceback" not in result.stderr


def test_validate_prints_a_verdict_per_file_and_fails_on_rejects(
    tmp_path: Path,
) -> None:
    good = tmp_path / "good.dcm"
    good.write_bytes(ct_instance(SyntheticPatient(1), 1, 1, 1, rows=16, columns=16))
    for name, make in BROKEN.items():
        (tmp_path / f"{name}.dcm").write_bytes(make())

    result = medlake("validate", str(tmp_path))

    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert any(line.startswith("ACCEPT") and "good.dcm" in line for line in lines)
    verdicts = {
        line.split()[-1].rsplit("/", 1)[-1]: line.split()[1]
        for line in lines
        if line.startswith(("ACCEPT", "REJECT"))
    }
    assert verdicts == {
        "good.dcm": "OK",
        "empty_file.dcm": "EMPTY_FILE",
        "not_dicom.dcm": "NOT_DICOM",
        "truncated_in_pixel_data.dcm": "TRUNCATED",
        "missing_study_instance_uid.dcm": "IDENTIFIER_MISSING",
        "pixel_data_shorter_than_rows_columns.dcm": "PIXEL_DATA_LENGTH_MISMATCH",
    }
    assert "1 accepted, 5 rejected" in result.stderr
    assert "SYNTHETIC" not in result.stdout


def test_validate_passes_a_clean_folder(tmp_path: Path) -> None:
    (tmp_path / "a.dcm").write_bytes(
        ct_instance(SyntheticPatient(2), 1, 1, 1, rows=16, columns=16)
    )

    result = medlake("validate", str(tmp_path))

    assert result.returncode == 0
    assert "1 accepted, 0 rejected" in result.stderr
