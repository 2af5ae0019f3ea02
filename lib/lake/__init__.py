"""The analytics lake: Delta tables in the ``lake`` container.

Ingest *stages* rows (:class:`LakeStage`, :class:`LakeRejectionSink`); the commit
timer folds them into the tables (:class:`LakeCommitter`); the daily maintenance
compacts and vacuums them (:func:`maintain`); :func:`analytics_summary` computes
the key measures that ``medlake report`` and ``GET /api/analytics/summary`` show.
See docs/tables.md for the tables and docs/powerbi.md for Power BI.
"""

from lib.lake.commit import CommitResult, LakeCommitter
from lib.lake.lock import LakeBusy, commit_lock
from lib.lake.schemas import TABLES, TableSpec
from lib.lake.settings import LakeSettings
from lib.lake.stage import LakeRejectionSink, LakeStage
from lib.lake.staging import Stager
from lib.lake.storage import LakeLocation

__all__ = [
    "TABLES",
    "CommitResult",
    "LakeBusy",
    "LakeCommitter",
    "LakeLocation",
    "LakeRejectionSink",
    "LakeSettings",
    "LakeStage",
    "Stager",
    "TableSpec",
    "commit_lock",
]
