"""Fold staged rows into the Delta tables, exactly once as readers see it.

One run (the commit timer, every minute):

1. take the commit lease (:mod:`lib.lake.lock`); if another run holds it, stop;
2. list and read up to ``commit_max_rows`` staged blobs (a blob holds one row,
   or the rows of a group of uploads: :mod:`lib.lake.staging`);
3. per table, keep one row per natural key and MERGE them on it: a key already
   in the table is not inserted again (one Delta commit per table per run, not
   per instance);
4. recompute the ``series`` and ``studies`` rows of every study in the batch from
   ``instances`` and MERGE them (replace on match);
5. delete the staged blobs that were read.

A crash anywhere leaves the staged blobs in place (they are deleted last), and
the next run repeats the MERGE, which inserts nothing twice. Should two runs
overlap despite the lease (a lost renewal), Delta's optimistic concurrency makes
the later commit fail and retry against the new version, where MERGE again
finds the keys present.
"""

from __future__ import annotations

import contextlib
import json
import logging
import random
import time
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from azure.core.exceptions import (
    AzureError,
    HttpResponseError,
    ResourceNotFoundError,
)
from azure.storage.blob import BlobServiceClient
from deltalake import DeltaTable, QueryBuilder
from deltalake.exceptions import CommitFailedError, DeltaError, TableNotFoundError

from lib.errors import TransientError
from lib.lake.lock import LakeBusy, commit_lock
from lib.lake.schemas import INSTANCES, SERIES, STUDIES, TABLES, TableSpec
from lib.lake.settings import LakeSettings
from lib.lake.staging import decode_rows, document_from_metadata, staged_rows
from lib.lake.storage import STAGING_PREFIX, LakeLocation
from lib.storage import LAKE

__all__ = ["CommitResult", "LakeCommitter"]

logger = logging.getLogger(__name__)

IO_THREADS = 16
DELETE_BATCH = 256  # the most one Blob Batch request takes
# Statuses with which a service refuses a Blob Batch request as a whole.
BATCH_REFUSED = frozenset({400, 403, 404, 405, 501})
MERGE_ATTEMPTS = 6


@dataclass(frozen=True)
class CommitResult:
    """What one commit run did; safe to log (counts only).

    Parameters
    ----------
    skipped : bool
        Another run held the lease; nothing was done.
    staged : dict[str, int]
        Staged rows read, per table.
    inserted, updated : dict[str, int]
        Rows the MERGE inserted / replaced, per table.
    seconds : float
        Wall time of the run.
    """

    skipped: bool = False
    staged: Mapping[str, int] = field(default_factory=dict)
    inserted: Mapping[str, int] = field(default_factory=dict)
    updated: Mapping[str, int] = field(default_factory=dict)
    seconds: float = 0.0


def _now() -> datetime:
    return datetime.now(UTC)


class LakeCommitter:
    """Commits staged rows into the lake's Delta tables.

    Parameters
    ----------
    service : BlobServiceClient
        The account holding the ``lake`` container (staged rows, the lease).
    location : LakeLocation
        How delta-rs reaches the same account.
    settings : LakeSettings
        Batch size and whether to take the lease.
    """

    def __init__(
        self,
        service: BlobServiceClient,
        location: LakeLocation,
        settings: LakeSettings | None = None,
    ) -> None:
        self._service = service
        self._location = location
        self._settings = settings or LakeSettings()
        self._tables_exist = False
        # Cleared when the account refuses Blob Batch requests; deletes then
        # go one request per blob for the life of this committer.
        self._batch_deletes = True

    # -- tables -------------------------------------------------------------

    def ensure_tables(self) -> None:
        """Create every table that does not exist yet, empty, with its schema.

        Readers (Power BI, DuckDB) then find every table even before the first
        finding or audit row exists.
        """
        if self._tables_exist:
            return
        options = self._location.storage_options()
        for spec in TABLES.values():
            uri = self._location.table_uri(spec.name)
            try:
                DeltaTable(uri, storage_options=options)
                continue
            except TableNotFoundError:
                pass
            # A concurrent run may create it first; its table is the same.
            with contextlib.suppress(CommitFailedError):
                DeltaTable.create(
                    uri,
                    spec.schema,
                    mode="ignore",
                    partition_by=list(spec.partition_by) or None,
                    name=spec.name,
                    storage_options=options,
                )
        self._tables_exist = True

    def table(self, name: str) -> DeltaTable:
        """The current version of table ``name``."""
        return DeltaTable(
            self._location.table_uri(name),
            storage_options=self._location.storage_options(),
        )

    # -- the run ------------------------------------------------------------

    def commit(self) -> CommitResult:
        """Commit what is staged now; see the module docstring for the steps.

        Raises
        ------
        TransientError
            Storage or Delta failed; the staged rows stay for the next run.
        """
        started = time.perf_counter()
        try:
            if self._settings.use_lock:
                with commit_lock(self._service):
                    result = self._commit_unlocked()
            else:
                result = self._commit_unlocked()
        except LakeBusy:
            logger.info("lake commit skipped: another run holds the lease")
            return CommitResult(skipped=True)
        seconds = time.perf_counter() - started
        logger.info(
            "lake commit staged=%s inserted=%s updated=%s ms=%.0f",
            dict(result.staged),
            dict(result.inserted),
            dict(result.updated),
            seconds * 1000,
        )
        return CommitResult(
            staged=result.staged,
            inserted=result.inserted,
            updated=result.updated,
            seconds=seconds,
        )

    def _commit_unlocked(self) -> CommitResult:
        staged = self._list_staged()
        if not staged:
            return CommitResult()
        self.ensure_tables()
        by_table: dict[str, list[Mapping[str, Any]]] = {}
        done: list[str] = []
        for name, document in self._read_staged(staged):
            entries = [] if document is None else list(staged_rows(document))
            if any(entry.get("table") not in TABLES for entry in entries):
                # Staged by a newer deployment (a table this code does not know):
                # the blob is left for a committer that does, never dropped.
                logger.warning("staged rows for an unknown table left in place")
                continue
            done.append(name)
            for entry in entries:
                by_table.setdefault(str(entry["table"]), []).append(entry)

        committed_time = _now()
        inserted: dict[str, int] = {}
        updated: dict[str, int] = {}
        for table, docs in sorted(by_table.items()):
            spec = TABLES[table]
            source = decode_rows(spec, docs)
            source = _with_committed_time(source, committed_time)
            metrics = self._merge(spec, _dedupe(source, spec.keys))
            inserted[table] = metrics[0]
            updated[table] = metrics[1]

        if INSTANCES.name in by_table:
            studies = {
                str(doc["row"]["study_instance_uid"]) for doc in by_table["instances"]
            }
            for spec, rows in zip(
                (SERIES, STUDIES), self._derive(studies, committed_time), strict=True
            ):
                inserted[spec.name], updated[spec.name] = self._merge(spec, rows)

        self._delete_staged(done)
        return CommitResult(
            staged={table: len(docs) for table, docs in by_table.items()},
            inserted=inserted,
            updated=updated,
        )

    # -- staged blobs -------------------------------------------------------

    def _list_staged(self) -> list[tuple[str, Mapping[str, Any] | None]]:
        """Staged blob names, each with its row when the listing carried it."""
        container = self._service.get_container_client(LAKE)
        staged: list[tuple[str, Mapping[str, Any] | None]] = []
        try:
            for blob in container.list_blobs(
                name_starts_with=f"{STAGING_PREFIX}/", include=["metadata"]
            ):
                staged.append((blob.name, document_from_metadata(blob.metadata)))
                if len(staged) >= self._settings.commit_max_rows:
                    break
        except AzureError as exc:
            raise TransientError(
                f"listing staged rows failed ({type(exc).__name__})"
            ) from exc
        return staged

    def _read_staged(
        self, staged: list[tuple[str, Mapping[str, Any] | None]]
    ) -> list[tuple[str, Mapping[str, Any] | None]]:
        """Each staged name with its document (None: deleted meanwhile)."""
        container = self._service.get_container_client(LAKE)

        def read(item: tuple[str, Mapping[str, Any] | None]) -> Any:
            name, document = item
            if document is not None:
                return document
            try:
                return json.loads(container.download_blob(name).readall())
            except ResourceNotFoundError:
                return None  # an overlapping run committed and deleted it

        try:
            with ThreadPoolExecutor(max_workers=IO_THREADS) as pool:
                documents = list(pool.map(read, staged))
        except AzureError as exc:
            raise TransientError(
                f"reading staged rows failed ({type(exc).__name__})"
            ) from exc
        return [(name, doc) for (name, _), doc in zip(staged, documents, strict=True)]

    def _delete_staged(self, names: Iterable[str]) -> None:
        container = self._service.get_container_client(LAKE)
        pending = list(names)
        batches = [
            pending[start : start + DELETE_BATCH]
            for start in range(0, len(pending), DELETE_BATCH)
        ]

        def delete_each(batch: list[str]) -> None:
            for name in batch:
                # A name already gone (an overlapping run deleted it) is fine.
                with contextlib.suppress(ResourceNotFoundError):
                    container.delete_blob(name)

        def delete(batch: list[str]) -> None:
            if not self._batch_deletes:
                delete_each(batch)
                return
            try:
                # One Blob Batch request per 256 names; a sub-request for a
                # name already gone fails alone and is fine.
                container.delete_blobs(*batch, raise_on_any_failure=False)
            except HttpResponseError as exc:
                # The batch request as a whole was refused (an account or
                # emulator without Blob Batch answers 400, 403 or 405), not
                # one of its names: fall back to one Delete Blob per name.
                if exc.status_code not in BATCH_REFUSED:
                    raise
                self._batch_deletes = False
                logger.warning(
                    "Blob Batch refused (HTTP %s); deleting staged rows one by one",
                    exc.status_code,
                )
                delete_each(batch)

        try:
            with ThreadPoolExecutor(max_workers=IO_THREADS) as pool:
                list(pool.map(delete, batches))
        except AzureError as exc:
            raise TransientError(
                f"deleting committed staged rows failed ({type(exc).__name__})"
            ) from exc

    # -- Delta --------------------------------------------------------------

    def _merge(self, spec: TableSpec, source: pa.Table) -> tuple[int, int]:
        """MERGE ``source`` into ``spec``'s table; (inserted, updated)."""
        if source.num_rows == 0:
            return 0, 0
        for attempt in range(1, MERGE_ATTEMPTS + 1):
            try:
                merger = self.table(spec.name).merge(
                    source,
                    predicate=spec.merge_predicate,
                    source_alias="s",
                    target_alias="t",
                    # A column added to the schema in code evolves the table;
                    # readers of the older files see null in it.
                    merge_schema=True,
                )
                if spec.replace_when:
                    merger = merger.when_matched_update_all(
                        predicate=None
                        if spec.replace_when == "true"
                        else spec.replace_when
                    )
                metrics = merger.when_not_matched_insert_all().execute()
                return (
                    int(metrics.get("num_target_rows_inserted", 0)),
                    int(metrics.get("num_target_rows_updated", 0)),
                )
            except CommitFailedError:
                # Another writer committed first: retry against its version,
                # where the MERGE sees its rows.
                if attempt == MERGE_ATTEMPTS:
                    raise TransientError(
                        f"table {spec.name}: commit kept conflicting; staged rows "
                        "stay for the next run"
                    ) from None
                time.sleep(random.uniform(0.05, 0.2) * attempt)
            except (DeltaError, OSError) as exc:
                raise TransientError(
                    f"table {spec.name}: merge failed ({type(exc).__name__})"
                ) from exc
        raise AssertionError("unreachable")

    def _derive(
        self, study_uids: set[str], updated_time: datetime
    ) -> tuple[pa.Table, pa.Table]:
        """``series`` and ``studies`` rows of ``study_uids``, from ``instances``."""
        # DataFusion (inside delta-rs) prunes files on the key's statistics;
        # the UIDs are digits and dots (checked when staged), safe as literals.
        uids = ", ".join(f"'{uid}'" for uid in sorted(study_uids) if _is_uid(uid))
        reader = (
            QueryBuilder()
            .register("instances", self.table(INSTANCES.name))
            .execute(f"SELECT * FROM instances WHERE study_instance_uid IN ({uids})")
        )
        instances = pa.RecordBatchReader.from_stream(reader).read_all()
        instances = instances.cast(_plain_types(instances.schema))
        return (
            derive_series(instances, updated_time),
            derive_studies(instances, updated_time),
        )


def _is_uid(value: str) -> bool:
    return bool(value) and all(ch.isdigit() or ch == "." for ch in value)


def _plain_types(schema: pa.Schema) -> pa.Schema:
    """``schema`` with string_view columns as plain strings (for aggregation)."""
    return pa.schema(
        pa.field(f.name, pa.string()) if pa.types.is_string_view(f.type) else f
        for f in schema
    )


def _with_committed_time(table: pa.Table, committed_time: datetime) -> pa.Table:
    """Stamp the run's time into ``committed_time`` (freshness, as readers see it)."""
    index = table.schema.get_field_index("committed_time")
    if index < 0:
        return table
    field_ = table.schema.field(index)
    values = pa.array([committed_time] * table.num_rows, field_.type)
    return table.set_column(index, field_, values)


def _dedupe(table: pa.Table, keys: tuple[str, ...]) -> pa.Table:
    """One row per key (the last staged); MERGE needs unique source keys."""
    seen: dict[tuple[object, ...], int] = {}
    columns = [table.column(key).to_pylist() for key in keys]
    for index, key in enumerate(zip(*columns, strict=True)):
        seen[key] = index
    if len(seen) == table.num_rows:
        return table
    return table.take(sorted(seen.values()))


def derive_series(instances: pa.Table, updated_time: datetime) -> pa.Table:
    """One ``series`` row per series in ``instances``."""
    frames = pc.fill_null(instances.column("number_of_frames"), 1)
    table = instances.append_column("frames", pc.cast(frames, pa.int64()))
    grouped = table.group_by("series_instance_uid").aggregate(
        [
            ("study_instance_uid", "min"),
            ("patient_id", "min"),
            ("modality", "min"),
            ("body_part_examined", "min"),
            ("sop_instance_uid", "count"),
            ("frames", "sum"),
            ("bytes_out", "sum"),
            ("ingest_time", "min"),
            ("ingest_time", "max"),
        ]
    )
    columns = {
        "series_instance_uid": grouped["series_instance_uid"],
        "study_instance_uid": grouped["study_instance_uid_min"],
        "patient_id": grouped["patient_id_min"],
        "modality": grouped["modality_min"],
        "body_part_examined": grouped["body_part_examined_min"],
        "instance_count": grouped["sop_instance_uid_count"],
        "frame_count": grouped["frames_sum"],
        "bytes_out": grouped["bytes_out_sum"],
        "first_ingest_time": grouped["ingest_time_min"],
        "last_ingest_time": grouped["ingest_time_max"],
        "updated_time": pa.array(
            [updated_time] * grouped.num_rows, SERIES.schema.field("updated_time").type
        ),
    }
    return pa.Table.from_pydict(columns, schema=SERIES.schema)


def derive_studies(instances: pa.Table, updated_time: datetime) -> pa.Table:
    """One ``studies`` row per study in ``instances``."""
    grouped = instances.group_by("study_instance_uid").aggregate(
        [
            ("patient_id", "min"),
            ("study_date", "min"),
            ("modality", "distinct"),
            ("series_instance_uid", "count_distinct"),
            ("sop_instance_uid", "count"),
            ("bytes_out", "sum"),
            ("ingest_time", "min"),
            ("ingest_time", "max"),
        ]
    )
    modalities = [
        ",".join(sorted(m for m in values if m))
        for values in grouped["modality_distinct"].to_pylist()
    ]
    first = grouped["ingest_time_min"]
    columns = {
        "study_instance_uid": grouped["study_instance_uid"],
        "patient_id": grouped["patient_id_min"],
        "study_date": grouped["study_date_min"],
        "modalities": pa.array(modalities, pa.string()),
        "series_count": grouped["series_instance_uid_count_distinct"],
        "instance_count": grouped["sop_instance_uid_count"],
        "bytes_out": grouped["bytes_out_sum"],
        "first_ingest_time": first,
        "last_ingest_time": grouped["ingest_time_max"],
        "first_ingest_date": pc.cast(first, pa.date32()),
        "updated_time": pa.array(
            [updated_time] * grouped.num_rows, STUDIES.schema.field("updated_time").type
        ),
    }
    return pa.Table.from_pydict(columns, schema=STUDIES.schema)
