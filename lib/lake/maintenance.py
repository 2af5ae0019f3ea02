"""Daily upkeep of the Delta tables: compaction, vacuum, log clean-up.

The commit timer adds a few small files per table per minute; compaction
(``OPTIMIZE``) rewrites them into large ones so readers open few files, and
vacuum deletes the files no version within the retention still references
(``MEDLAKE_LAKE_VACUUM_RETENTION_HOURS``). Both run under the commit lease, so
they never race a commit: compaction conflicts with a concurrent MERGE that
rewrites the same files.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

from azure.storage.blob import BlobServiceClient
from deltalake.exceptions import DeltaError

from lib.errors import TransientError
from lib.lake.commit import LakeCommitter
from lib.lake.lock import LakeBusy, commit_lock
from lib.lake.schemas import TABLES
from lib.lake.settings import LakeSettings
from lib.lake.storage import LakeLocation

__all__ = ["MaintenanceResult", "maintain"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class MaintenanceResult:
    """What one maintenance run did, per table (counts only).

    Parameters
    ----------
    skipped : bool
        A commit held the lease for longer than ``LOCK_WAIT_SECONDS``; the next
        run will do it.
    files_removed, files_added : dict[str, int]
        Files compaction replaced / wrote.
    files_vacuumed : dict[str, int]
        Unreferenced files deleted.
    seconds : float
        Wall time.
    """

    skipped: bool = False
    files_removed: Mapping[str, int] = field(default_factory=dict)
    files_added: Mapping[str, int] = field(default_factory=dict)
    files_vacuumed: Mapping[str, int] = field(default_factory=dict)
    seconds: float = 0.0


# Long enough to wait out a commit run that started at the same minute.
LOCK_WAIT_SECONDS = 45.0


def maintain(
    service: BlobServiceClient, location: LakeLocation, settings: LakeSettings
) -> MaintenanceResult:
    """Compact and vacuum every table.

    Raises
    ------
    TransientError
        Storage or Delta failed; the next run tries again.
    """
    started = time.perf_counter()
    committer = LakeCommitter(service, location, settings)
    removed: dict[str, int] = {}
    added: dict[str, int] = {}
    vacuumed: dict[str, int] = {}
    try:
        with commit_lock(service, wait_seconds=LOCK_WAIT_SECONDS):
            committer.ensure_tables()
            for name in TABLES:
                try:
                    table = committer.table(name)
                    metrics = table.optimize.compact()
                    removed[name] = int(metrics.get("numFilesRemoved", 0))
                    added[name] = int(metrics.get("numFilesAdded", 0))
                    # The setting, not the table property, decides retention;
                    # its minimum keeps in-flight readers safe.
                    deleted = committer.table(name).vacuum(
                        retention_hours=settings.vacuum_retention_hours,
                        dry_run=False,
                        enforce_retention_duration=False,
                    )
                    vacuumed[name] = len(deleted)
                    committer.table(name).cleanup_metadata()
                except (DeltaError, OSError) as exc:
                    raise TransientError(
                        f"table {name}: maintenance failed ({type(exc).__name__})"
                    ) from exc
    except LakeBusy:
        logger.info("lake maintenance skipped: a commit holds the lease")
        return MaintenanceResult(skipped=True)
    seconds = time.perf_counter() - started
    logger.info(
        "lake maintenance compacted=%s vacuumed=%s ms=%.0f",
        removed,
        vacuumed,
        seconds * 1000,
    )
    return MaintenanceResult(
        files_removed=removed,
        files_added=added,
        files_vacuumed=vacuumed,
        seconds=seconds,
    )
