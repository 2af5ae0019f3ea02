"""Construct blob clients from settings.

Locally the account is Azurite; in Azure it is the Function App's storage account,
reached with a connection string or, preferably, a managed identity.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterable
from typing import IO, Any

from azure.core import MatchConditions
from azure.core.exceptions import (
    AzureError,
    HttpResponseError,
    ResourceExistsError,
    ResourceNotFoundError,
)
from azure.storage.blob import BlobClient, BlobServiceClient, ContentSettings

from lib.errors import TransientError
from lib.settings import Settings
from lib.storage.layout import ALL_CONTAINERS
from lib.transport import READ_BLOCK_BYTES, direct_transport

# Azurite can lag the newest blob REST API version the SDK speaks; the local stack
# starts Azurite with --skipApiVersionCheck, and MEDLAKE_STORAGE_API_VERSION pins
# the SDK for an emulator that cannot skip the check.


def blob_service_client(
    settings: Settings, *, interactive: bool = False
) -> BlobServiceClient:
    """A client for the account named by ``settings``.

    ``interactive`` clients (the CLI) give up at once on a refused connection
    and retry other failures twice: the SDK's defaults (10 retries, backoff from
    15 s) keep a user waiting for minutes when the emulator is simply down.
    """
    # Bodies in 1 MiB blocks and, for the app, no proxy lookups per request
    # (lib.transport explains both).
    options: dict[str, Any] = {"connection_data_block_size": READ_BLOCK_BYTES}
    if interactive:
        options.update(retry_total=2, retry_connect=0)
    elif not settings.storage_proxy_from_env:
        options["transport"] = direct_transport()
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
    data: bytes | IO[bytes] | Iterable[bytes],
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
    if hasattr(data, "seek"):
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


COPY_TIMEOUT_SECONDS = 120.0


class SourceChangedError(ResourceNotFoundError):
    """The copy source is gone or no longer has the eTag it was read at."""


def quoted_etag(etag: str) -> str:
    """Event Grid reports eTags bare (``0x8D…``); HTTP conditions want quotes."""
    return etag if etag.startswith('"') else f'"{etag}"'


def copy_once(
    service: BlobServiceClient,
    source: BlobClient,
    source_etag: str,
    container: str,
    name: str,
    *,
    metadata: dict[str, str] | None = None,
) -> bool:
    """Copy ``source`` at ``source_etag`` server-side, unless the target exists.

    The storage service copies the bytes (Copy Blob within one account), so the
    function never uploads the original again, and the ``If-Match`` on the
    source guarantees the copy is exactly the version that was validated.
    Returns True if this call created the target.

    Raises
    ------
    SourceChangedError
        The source was deleted or replaced since it was read.
    TransientError
        Storage failed, or the copy did not finish in time.
    """
    target = service.get_blob_client(container, name)
    try:
        copy = target.start_copy_from_url(
            source.url,
            metadata=metadata,
            source_etag=quoted_etag(source_etag),
            source_match_condition=MatchConditions.IfNotModified,
            match_condition=MatchConditions.IfMissing,
        )
    except ResourceExistsError:
        return False
    except ResourceNotFoundError as exc:
        raise SourceChangedError("the copy source no longer exists") from exc
    except HttpResponseError as exc:
        if exc.status_code == 412 and getattr(exc, "error_code", None) == (
            "SourceConditionNotMet"
        ):
            raise SourceChangedError("the copy source was replaced") from exc
        if exc.status_code in (409, 412):
            return False  # the target exists: If-None-Match: * failed
        raise TransientError(
            f"copying into {container} failed ({type(exc).__name__})"
        ) from exc
    except AzureError as exc:
        raise TransientError(
            f"copying into {container} failed ({type(exc).__name__})"
        ) from exc

    # Copies within one account usually finish at once; a pending one is
    # polled (Azure docs, "Copy Blob": the copy may complete asynchronously).
    status = copy.get("copy_status")
    deadline = time.monotonic() + COPY_TIMEOUT_SECONDS
    while status == "pending":
        if time.monotonic() > deadline:
            raise TransientError(f"copy into {container} still pending; retrying")
        time.sleep(0.2)
        status = target.get_blob_properties().copy.status
    if status != "success":
        raise TransientError(f"copy into {container} ended with status {status}")
    return True
