"""The docs a newcomer reads stay in step with the code."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lib.validation import CATALOGUE

ROOT = Path(__file__).resolve().parents[2]


def test_readme_documents_every_setting() -> None:
    readme = (ROOT / "README.md").read_text()
    sample = json.loads((ROOT / "local.settings.sample.json").read_text())

    missing = [
        name
        for name in sample["Values"]
        if name not in ("FUNCTIONS_WORKER_RUNTIME", "AzureWebJobsFeatureFlags")
        and f"`{name}`" not in readme
    ]

    assert missing == []


@pytest.mark.parametrize("code", sorted(CATALOGUE))
def test_validation_doc_lists_every_code(code: str) -> None:
    assert f"`{code}`" in (ROOT / "docs" / "validation.md").read_text()


def test_storage_doc_names_every_container() -> None:
    from lib.storage import ALL_CONTAINERS

    text = (ROOT / "docs" / "storage.md").read_text()

    assert all(f"`{name}`" in text for name in ALL_CONTAINERS)
