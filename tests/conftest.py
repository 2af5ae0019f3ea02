"""Session fixtures shared by every test package."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from azure.storage.blob import BlobServiceClient

from lib.settings import Settings
from lib.storage import ensure_containers
from tests.support.azurite import running_azurite


@pytest.fixture(scope="session")
def azurite_connection_string() -> Iterator[str]:
    """A private Azurite for this test session."""
    with running_azurite() as connection_string:
        yield connection_string


@pytest.fixture
def blob_service(azurite_connection_string: str) -> Iterator[BlobServiceClient]:
    """A client on empty containers of the storage contract."""
    service = BlobServiceClient.from_connection_string(azurite_connection_string)
    for container in service.list_containers():
        service.delete_container(container.name)
    ensure_containers(service)
    yield service


@pytest.fixture
def settings(azurite_connection_string: str) -> Settings:
    return Settings(storage_connection_string=azurite_connection_string)
