"""Fixtures for the dev host tests: settings and a shared sample-app host."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.devhost import DevHost, running_devhost

SAMPLE_APP = "tests.devhost.sample_app:app"
TOPIC_KEY = "test-topic-key"


@pytest.fixture(scope="session")
def devhost_env(azurite_connection_string: str) -> dict[str, str]:
    """Settings for a dev host on the session's Azurite, with fast retries."""
    return {
        "MEDLAKE_STORAGE_CONNECTION": azurite_connection_string,
        "MEDLAKE_DEVHOST_POLL_SECONDS": "0.1",
        "MEDLAKE_DEVHOST_RETRY_BASE_SECONDS": "0.05",
        "MEDLAKE_DEVHOST_MAX_DELIVERIES": "3",
        "MEDLAKE_OUTCOME_TOPIC_KEY": TOPIC_KEY,
    }


@pytest.fixture(scope="package")
def sample_host(devhost_env: dict[str, str]) -> Iterator[DevHost]:
    """One sample-app host without watcher or timers, shared by request tests."""
    with running_devhost(devhost_env, app=SAMPLE_APP, watch=False) as host:
        yield host
