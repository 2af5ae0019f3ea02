"""The ingest flow: ``BlobCreated`` on ``incoming`` to ``raw`` or ``quarantine``."""

from lib.ingest.faults import FaultInjector, InjectedFault
from lib.ingest.pipeline import IngestPipeline, IngestResult, IngestStatus
from lib.ingest.stages import RejectionSink, Stage, StageRejection, Upload, WriteSet

__all__ = [
    "FaultInjector",
    "IngestPipeline",
    "IngestResult",
    "IngestStatus",
    "InjectedFault",
    "RejectionSink",
    "Stage",
    "StageRejection",
    "Upload",
    "WriteSet",
]
