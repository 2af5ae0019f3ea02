"""``medlake report``: printed measures and a self-contained HTML page."""

from __future__ import annotations

from pathlib import Path

import pytest
from azure.storage.blob import BlobServiceClient

from cli.main import main
from lib.ingest import IngestPipeline
from tests.lib.lake.conftest import ingest, instance
from tests.support.malformed import MALFORMED


def test_report_commits_prints_and_writes_html(
    pipeline: IngestPipeline,
    blob_service: BlobServiceClient,
    azurite_connection_string: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for number in (1, 2):
        ingest(pipeline, blob_service, instance(71, number=number))
    make, code = MALFORMED["empty_file"]
    ingest(pipeline, blob_service, make())
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MEDLAKE_STORAGE_CONNECTION", azurite_connection_string)
    out = tmp_path / "summary.html"

    status = main(["report", "--commit", "--out", str(out)])

    printed = capsys.readouterr().out
    assert status == 0
    assert "instances 2" in printed
    assert f"{code:<32} 33.3%" in printed
    assert "processing latency  p50" in printed
    page = out.read_text()
    assert page.count("<svg") == 2  # studies per day, rejections; no findings yet
    assert "<script" not in page
    assert "src=" not in page and "href=" not in page
    assert "No findings yet." in page


def test_report_on_an_empty_lake_prints_dashes(
    blob_service: BlobServiceClient,
    azurite_connection_string: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MEDLAKE_STORAGE_CONNECTION", azurite_connection_string)

    status = main(["report", "--out", str(tmp_path / "r.html")])

    assert status == 0
    printed = capsys.readouterr().out
    assert "instances 0" in printed
    assert "p50 -" in printed
