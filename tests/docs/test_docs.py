"""The docs a newcomer reads stay in step with the code."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from lib.validation import CATALOGUE

ROOT = Path(__file__).resolve().parents[2]
APP_SOURCES = ("lib", "blueprints", "devhost", "cli")
# Quoted names of the settings' shape that are not settings.
NOT_SETTINGS = {"MEDLAKE_DEID_1"}  # the de-identification method's version name


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


def test_sample_settings_list_every_setting_the_code_reads() -> None:
    sample = json.loads((ROOT / "local.settings.sample.json").read_text())
    read = {
        name
        for folder in APP_SOURCES
        for path in (ROOT / folder).rglob("*.py")
        for name in re.findall(r'"(MEDLAKE_[A-Z0-9_]+)"', path.read_text())
    }

    assert sorted(read - NOT_SETTINGS - set(sample["Values"])) == []


def test_pre_commit_runs_the_checks_of_make_test() -> None:
    import yaml

    config = yaml.safe_load((ROOT / ".pre-commit-config.yaml").read_text())
    entries = {hook["entry"] for repo in config["repos"] for hook in repo["hooks"]}
    makefile = (ROOT / "Makefile").read_text()
    # make runs them on the whole tree ("."), pre-commit on the staged files.
    made = {
        line.strip().replace("$(VENV)", ".venv").removesuffix(" .")
        for line in makefile.splitlines()
        if line.startswith("\t$(VENV)/bin/")
    }

    assert entries == made
