"""Dev host settings: local.settings.json, environment defaults, retry delays."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from devhost.config import (
    DEFAULT_MASTER_KEY,
    DevHostConfig,
    DevHostConfigError,
    load_local_settings,
)
from devhost.dispatcher import MAX_RETRY_DELAY_SECONDS, retry_delay


def test_local_settings_fill_environment_but_real_variables_win(
    tmp_path: Path,
) -> None:
    settings = tmp_path / "local.settings.json"
    settings.write_text(
        json.dumps(
            {
                "IsEncrypted": False,
                "Values": {"FROM_FILE": "file", "ALREADY_SET": "file", "NUMBER": 3},
            }
        )
    )
    environ = {"ALREADY_SET": "environment"}

    copied = load_local_settings(settings, environ)

    assert copied == 2
    assert environ == {"ALREADY_SET": "environment", "FROM_FILE": "file", "NUMBER": "3"}


def test_missing_local_settings_is_not_an_error(tmp_path: Path) -> None:
    assert load_local_settings(tmp_path / "absent.json", {}) == 0


def test_malformed_local_settings_names_the_file(tmp_path: Path) -> None:
    settings = tmp_path / "local.settings.json"
    settings.write_text("{")

    with pytest.raises(
        DevHostConfigError, match=re.escape("local.settings.json is not readable")
    ):
        load_local_settings(settings, {})


def test_reads_devhost_settings_from_environment() -> None:
    config = DevHostConfig.from_env(
        {
            "MEDLAKE_DEVHOST_WORKERS": "3",
            "MEDLAKE_DEVHOST_POLL_SECONDS": "0.25",
            "MEDLAKE_DEVHOST_MAX_DELIVERIES": "7",
            "MEDLAKE_DEVHOST_RETRY_BASE_SECONDS": "0.5",
            "MEDLAKE_DEVHOST_EVENT_FUNCTIONS": "a, b",
        }
    )

    assert (config.workers, config.poll_seconds) == (3, 0.25)
    assert (config.max_deliveries, config.retry_base_seconds) == (7, 0.5)
    assert config.event_functions == ("a", "b")
    assert config.master_key == DEFAULT_MASTER_KEY


def test_command_line_workers_override_environment() -> None:
    config = DevHostConfig.from_env({"MEDLAKE_DEVHOST_WORKERS": "3"}, workers=1)

    assert config.workers == 1


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"MEDLAKE_DEVHOST_WORKERS": "many"}, "MEDLAKE_DEVHOST_WORKERS must be an int"),
        ({"MEDLAKE_DEVHOST_MAX_DELIVERIES": "0"}, "must be at least 1"),
        ({"MEDLAKE_DEVHOST_POLL_SECONDS": "soon"}, "must be a number"),
    ],
    ids=["workers-not-integer", "no-deliveries", "poll-not-number"],
)
def test_rejects_malformed_settings(env: dict[str, str], message: str) -> None:
    with pytest.raises(DevHostConfigError, match=message):
        DevHostConfig.from_env(env)


def test_retry_delay_doubles_with_jitter_and_is_capped() -> None:
    delays = [retry_delay(attempt, 1.0) for attempt in (1, 2, 3, 10)]

    assert 0.8 <= delays[0] <= 1.2
    assert 1.6 <= delays[1] <= 2.4
    assert 3.2 <= delays[2] <= 4.8
    assert delays[3] <= MAX_RETRY_DELAY_SECONDS
