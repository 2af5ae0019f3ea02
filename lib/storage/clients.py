"""Construct blob clients from settings.

Locally the account is Azurite; in Azure it is the Function App's storage account,
reached with a connection string or, preferably, a managed identity.
"""

from __future__ import annotations

import contextlib
from typing import IO, Any

from azure.core.exceptions import AzureError, ResourceExistsError
from azure.storage.blob import BlobServiceClient, ContentSettings

from lib.errors import TransientError
from lib.settings import Settings
from lib.storage.layout import ALL_CONTAINERS

# Azurite can lag the newest blob REST API version the SDK speaks; the local stack
# starts Azurite with --skipApiVersionCheck, and MEDLAKE_STORAGE_API_VERSION pins
# the SDK for an emulator that cannot skip the check.


def blob_service_client(settings: Settings) -> BlobServiceClient:
    """A client for the account named by ``settings``."""
    options: dict[str, Any] = {}
    if settings.storage_api_version:
        options["api_version"] = settings.storage_api_version
    if settings.storage_connection_string:
        return BlobServiceClient.from_connection_string(
            settings.storage_connection_string, **options
        )
    from azure.identity import DefaultAzureCredential

    return BlobServiceClient(
        settings.storage_account_url, credential=DefaultAzureCredential(), **options
    )


def ensure_containers(service: BlobServiceClient) -> None:
    """Create every container of the storage contract that does not exist yet."""
    for name in ALL_CONTAINERS:
        with contextlib.suppress(ResourceExistsError):
            service.create_container(name)


DICOM_CONTENT_TYPE = "application/dicom"


def write_once(
    service: BlobServiceClient,
    container: str,
    name: str,
    data: bytes | IO[bytes],
    *,
    length: int | None = None,
    content_type: str = DICOM_CONTENT_TYPE,
    metadata: dict[str, str] | None = None,
) -> bool:
    """Create a blob unless it exists (``If-None-Match: *``); True if written.

    Every writer of a deterministic name carries the same bytes, so an existing
    blob means an earlier delivery or an identical upload got there first.

    Raises
    ------
    TransientError
        Storage failed; the caller's event is retried.
    """
    if not isinstance(data, bytes):
        data.seek(0)
    blob = service.get_blob_client(container, name)
    try:
        blob.upload_blob(
            data,
            length=length,
            overwrite=False,
            metadata=metadata,
            content_settings=ContentSettings(content_type=content_type),
        )
    except ResourceExistsError:
        return False
    except AzureError as exc:
        raise TransientError(
            f"writing to {container} failed ({type(exc).__name__})"
        ) from exc
    return True
