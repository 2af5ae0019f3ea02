from __future__ import annotations

import pytest

from lib.errors import ConfigurationError
from lib.settings import AZURITE_CONNECTION_STRING, Settings


def test_defaults_to_azurite() -> None:
    assert Settings.from_env({}).storage_connection_string == (
        AZURITE_CONNECTION_STRING
    )


def test_development_storage_shorthand_means_azurite() -> None:
    settings = Settings.from_env({"AzureWebJobsStorage": "UseDevelopmentStorage=true"})

    assert settings.storage_connection_string == AZURITE_CONNECTION_STRING


def test_medlake_connection_wins_over_webjobs_storage() -> None:
    settings = Settings.from_env(
        {"AzureWebJobsStorage": "A", "MEDLAKE_STORAGE_CONNECTION": "B"}
    )

    assert settings.storage_connection_string == "B"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"MEDLAKE_MAX_UPLOAD_BYTES": "lots"}, "MEDLAKE_MAX_UPLOAD_BYTES must be an"),
        ({"MEDLAKE_MAX_UPLOAD_BYTES": "0"}, "at least 1"),
        ({"MEDLAKE_DEV_MODE": "maybe"}, "MEDLAKE_DEV_MODE must be true or false"),
        ({"MEDLAKE_FAULTS": "after_archive:1"}, "only with MEDLAKE_DEV_MODE"),
        (
            {"MEDLAKE_OUTCOME_TOPIC_ENDPOINT": "http://x"},
            "MEDLAKE_OUTCOME_TOPIC_KEY is required",
        ),
    ],
    ids=["not-int", "too-small", "bad-bool", "faults-outside-dev", "topic-no-key"],
)
def test_bad_settings_name_the_setting(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        Settings.from_env(env)
