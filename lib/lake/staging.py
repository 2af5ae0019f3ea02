"""Staged rows: small write-once blobs, committed in batches later.

A function instance never commits to a Delta table itself: concurrent commits
conflict and every commit adds files. It stages rows as JSON blobs under
``lake/staging/`` instead, in one of two forms:

- one row: ``staging/{table}/{natural key}.json``. A redelivered event or a
  duplicate upload writes the same name, and ``If-None-Match: *`` turns the
  second write into a no-op. The row also rides in the blob's metadata, so the
  committer reads it from the listing.
- a group of rows (from uploads that finished together, see
  :mod:`lib.ingest.group`): ``staging/groups/{time}-{uuid}.json`` holding every
  row with its table. A redelivery may stage a row again in another group; the
  committer keeps one row per natural key and MERGEs on it, so the copy changes
  nothing.

The commit timer (:mod:`lib.lake.commit`) folds staged rows into the tables and
deletes the blobs it read.
"""

from __future__ import annotations

import base64
import json
import re
import uuid
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any

import pyarrow as pa
from azure.storage.blob import BlobServiceClient

from lib.lake.schemas import TABLES, TableSpec
from lib.lake.storage import STAGING_PREFIX
from lib.storage import LAKE, write_once

__all__ = [
    "GROUP_SCHEMA_VERSION",
    "STAGED_SCHEMA_VERSION",
    "Stager",
    "check_row",
    "decode_rows",
    "staged_blob_name",
    "staged_rows",
]

STAGED_SCHEMA_VERSION = 1
GROUP_SCHEMA_VERSION = 2
# Not a table name (tables are plural nouns in schemas.TABLES).
GROUPS_FOLDER = "groups"
ROW_METADATA = "row"
MAX_INLINE_METADATA = 7 * 1024
# Natural keys are UIDs, hashes, dates and UUIDs; anything else in a blob name
# would be a bug (and perhaps a leak), so it is refused rather than escaped.
_KEY_PART = re.compile(r"^[A-Za-z0-9.\-]+$")


def _key_part(spec: TableSpec, column: str, value: object) -> str:
    text = value.isoformat() if isinstance(value, date) else str(value)
    if not _KEY_PART.match(text):
        raise ValueError(
            f"table {spec.name}: key column {column} must be a UID, hash, date or UUID"
        )
    return text


def staged_blob_name(spec: TableSpec, row: Mapping[str, Any]) -> str:
    """``staging/{table}/{key parts joined by _}.json`` for ``row``.

    Raises
    ------
    ValueError
        A key column is missing or holds characters a key never has.
    """
    missing = [key for key in spec.keys if row.get(key) in (None, "")]
    if missing:
        raise ValueError(f"table {spec.name}: key column {missing[0]} is empty")
    key = "_".join(_key_part(spec, column, row[column]) for column in spec.keys)
    return f"{STAGING_PREFIX}/{spec.name}/{key}.json"


def _encode(value: object) -> object:
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise TypeError(f"cannot stage a {type(value).__name__}")


class Stager:
    """Writes staged rows to the ``lake`` container.

    Parameters
    ----------
    service : BlobServiceClient
        The account holding the ``lake`` container.
    """

    def __init__(self, service: BlobServiceClient) -> None:
        self._service = service

    def stage(self, table: str, row: Mapping[str, Any]) -> str:
        """Stage ``row`` for ``table``; return the staged blob's name.

        Columns the table does not have are refused, so a typo cannot silently
        drop a value; missing columns become null.

        Raises
        ------
        ValueError
            Unknown table, unknown column or an unusable key.
        TransientError
            Storage failed; the caller's event is retried.
        """
        name = check_row(table, row)
        document = {"schemaVersion": STAGED_SCHEMA_VERSION, "table": table, "row": row}
        data = json.dumps(document, default=_encode, sort_keys=True).encode()
        write_once(
            self._service,
            LAKE,
            name,
            data,
            content_type="application/json",
            metadata=inline_metadata(data),
        )
        return name

    def stage_many(self, rows: Sequence[tuple[str, Mapping[str, Any]]]) -> str:
        """Stage ``(table, row)`` pairs in one blob; return its name.

        A single row is staged under its natural key (:meth:`stage`).

        Raises
        ------
        ValueError
            No rows, or a row :meth:`stage` would refuse.
        TransientError
            Storage failed; the callers' events are retried.
        """
        if not rows:
            raise ValueError("nothing to stage")
        if len(rows) == 1:
            return self.stage(*rows[0])
        for table, row in rows:
            check_row(table, row)
        document = {
            "schemaVersion": GROUP_SCHEMA_VERSION,
            "rows": [{"table": table, "row": row} for table, row in rows],
        }
        data = json.dumps(document, default=_encode, sort_keys=True).encode()
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        name = f"{STAGING_PREFIX}/{GROUPS_FOLDER}/{stamp}-{uuid.uuid4().hex}.json"
        write_once(
            self._service,
            LAKE,
            name,
            data,
            content_type="application/json",
            metadata=inline_metadata(data),
        )
        return name


def check_row(table: str, row: Mapping[str, Any]) -> str:
    """Refuse a row the table cannot take; return its single-row staged name.

    Raises
    ------
    ValueError
        Unknown table, unknown column or an unusable key.
    """
    spec = TABLES.get(table)
    if spec is None or not spec.staged:
        raise ValueError(f"table {table!r} does not take staged rows")
    unknown = set(row) - set(spec.schema.names)
    if unknown:
        raise ValueError(
            f"table {table}: no column {sorted(unknown)[0]} (see docs/tables.md)"
        )
    return staged_blob_name(spec, row)


def staged_rows(document: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    """The ``{"table", "row"}`` entries of a staged document of either form."""
    if "rows" in document:
        yield from document["rows"]
    else:
        yield document


def inline_metadata(data: bytes) -> dict[str, str] | None:
    """The staged document again, base64 in blob metadata, when it fits.

    Listing a container returns metadata with the names (5,000 per request), so
    the committer reads a whole batch without one GET per row. Metadata is
    limited to 8 KiB and must be ASCII, hence base64 and the size check; a row
    that does not fit is read from the blob's content instead.
    """
    encoded = base64.b64encode(data).decode("ascii")
    if len(encoded) > MAX_INLINE_METADATA:
        return None
    return {ROW_METADATA: encoded}


def document_from_metadata(metadata: Mapping[str, str] | None) -> Any:
    """The staged document carried in ``metadata``, or None if it is not there."""
    encoded = (metadata or {}).get(ROW_METADATA)
    return json.loads(base64.b64decode(encoded)) if encoded else None


def _decode(value: object, field: pa.Field) -> object:
    if value is None or not isinstance(value, str):
        return value
    if pa.types.is_timestamp(field.type):
        return datetime.fromisoformat(value)
    if pa.types.is_date(field.type):
        return date.fromisoformat(value)
    return value


def decode_rows(spec: TableSpec, documents: list[Mapping[str, Any]]) -> pa.Table:
    """Staged documents as an Arrow table with ``spec``'s schema.

    Columns a staged row has but the schema lacks are dropped: a row staged by a
    newer deployment during a rollout must not block the commit of the others.
    """
    rows = [document["row"] for document in documents]
    columns = {
        field.name: [_decode(row.get(field.name), field) for row in rows]
        for field in spec.schema
    }
    return pa.Table.from_pydict(columns, schema=spec.schema)
