"""Blob storage: the container contract and client construction."""

from lib.storage.clients import (
    DICOM_CONTENT_TYPE,
    SourceChangedError,
    blob_service_client,
    copy_once,
    ensure_containers,
    quoted_etag,
    write_once,
)
from lib.storage.layout import (
    ALL_CONTAINERS,
    DEADLETTER,
    DEID,
    INCOMING,
    LAKE,
    QUARANTINE,
    RAW,
    deadletter_blob_name,
    deid_blob_name,
    quarantine_blob_names,
    raw_blob_name,
)

__all__ = [
    "ALL_CONTAINERS",
    "DEADLETTER",
    "DEID",
    "DICOM_CONTENT_TYPE",
    "INCOMING",
    "LAKE",
    "QUARANTINE",
    "RAW",
    "SourceChangedError",
    "blob_service_client",
    "copy_once",
    "deadletter_blob_name",
    "deid_blob_name",
    "ensure_containers",
    "quarantine_blob_names",
    "quoted_etag",
    "raw_blob_name",
    "write_once",
]
