"""Process one ``BlobCreated`` event: read, validate, archive, publish, delete.

The closing writes of an upload (its staged lake rows and its outcome event) are
grouped with those of the uploads finishing at the same time in the same process
(:mod:`lib.ingest.group`): one staged blob and one publish for the group.

Every write is idempotent so that at-least-once delivery, duplicate uploads and
concurrent deliveries of one blob all converge on the same state:

- ``raw`` names are content hashes and written with ``If-None-Match: *``;
- quarantine names are the content hash under the day of the event time, which a
  redelivery repeats;
- the outcome event id derives from the incoming event id;
- the upload is deleted from ``incoming`` last, and only the version named by
  the event's eTag, so a newer upload under the same name is never lost.
"""

from __future__ import annotations

import enum
import hashlib
import json
import logging
import tempfile
import time
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import IO, Any

from azure.core import MatchConditions
from azure.core.exceptions import (
    AzureError,
    ResourceModifiedError,
    ResourceNotFoundError,
)
from azure.storage.blob import BlobClient, BlobServiceClient

from lib.errors import ConfigurationError, TransientError
from lib.events import (
    INSTANCE_ACCEPTED,
    INSTANCE_REJECTED,
    BlobCreated,
    Outcome,
    OutcomePublisher,
    outcome_publisher,
)
from lib.ingest.faults import FaultInjector
from lib.ingest.group import GroupCommit, Member
from lib.ingest.stages import (
    RejectionSink,
    RowStager,
    Stage,
    StageRejection,
    Upload,
    WriteSet,
)
from lib.settings import Settings
from lib.storage import (
    INCOMING,
    QUARANTINE,
    RAW,
    SourceChangedError,
    blob_service_client,
    copy_once,
    quarantine_blob_names,
    quoted_etag,
    raw_blob_name,
    write_once,
)
from lib.validation import Finding, Policy, ValidationReport, Verdict, validate

logger = logging.getLogger(__name__)

REASON_SCHEMA_VERSION = 1
# Storage writes in flight for all uploads of one process: three per upload
# (archive, de-identified instance, a group's rows) at the Python worker's
# default thread count.
WRITER_THREADS = 16


class IngestStatus(enum.Enum):
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    # The event's blob version is gone: deleted after an earlier delivery
    # finished, or replaced by a newer upload that has an event of its own.
    SKIPPED = "skipped"


@dataclass(frozen=True)
class IngestResult:
    """What one delivery did; safe to log (hashes and codes only)."""

    status: IngestStatus
    sha256: str = ""
    size: int = 0
    location: str = ""
    codes: tuple[str, ...] = ()
    details: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class _Closing:
    """What one upload still has to write before it leaves ``incoming``."""

    rows: tuple[tuple[str, Mapping[str, Any]], ...]
    outcome: Outcome


class IngestPipeline:
    """The ingest flow over one storage account.

    Parameters
    ----------
    service : BlobServiceClient
        The account holding the contract's containers.
    policy : Policy
        Decides which validation findings reject an upload.
    publisher : OutcomePublisher
        Receives one outcome per processed upload.
    max_upload_bytes, spool_threshold_bytes : int
        See :class:`lib.settings.Settings`.
    stages : iterable of Stage
        Run in order while the original is archived; their results go into
        the outcome event under each stage's name.
    rejection_sinks : iterable of RejectionSink
        Told about every quarantined upload.
    row_stager : RowStager, optional
        Writes the rows stages hand to :meth:`Upload.stage_row`, a group of
        uploads at a time; required once a stage stages rows.
    closing_wait_seconds : float
        How long a closing group waits for uploads still in progress.
    faults : FaultInjector
        Dev-mode fault points; inert by default.
    """

    def __init__(
        self,
        service: BlobServiceClient,
        *,
        policy: Policy,
        publisher: OutcomePublisher,
        max_upload_bytes: int,
        spool_threshold_bytes: int,
        stages: Iterable[Stage] = (),
        rejection_sinks: Iterable[RejectionSink] = (),
        row_stager: RowStager | None = None,
        closing_wait_seconds: float = 0.0,
        faults: FaultInjector | None = None,
    ) -> None:
        self._service = service
        self._policy = policy
        self._publisher = publisher
        self._max_upload_bytes = max_upload_bytes
        self._spool_threshold_bytes = spool_threshold_bytes
        self._stages = tuple(stages)
        self._rejection_sinks = tuple(rejection_sinks)
        self._row_stager = row_stager
        # Threads for the storage writes of uploads (see WriteSet).
        self._writer = ThreadPoolExecutor(
            max_workers=WRITER_THREADS, thread_name_prefix="write"
        )
        # Public for metrics and tests: flushes, items and the queue length.
        self.closing = GroupCommit(
            self._close_group, max_wait_seconds=closing_wait_seconds
        )
        self._faults = faults or FaultInjector()

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        service: BlobServiceClient | None = None,
        stages: Iterable[Stage] = (),
        rejection_sinks: Iterable[RejectionSink] = (),
        row_stager: RowStager | None = None,
    ) -> IngestPipeline:
        return cls(
            service or blob_service_client(settings),
            policy=Policy.from_setting(settings.validation_policy),
            publisher=outcome_publisher(settings),
            max_upload_bytes=settings.max_upload_bytes,
            spool_threshold_bytes=settings.spool_threshold_bytes,
            stages=stages,
            rejection_sinks=rejection_sinks,
            row_stager=row_stager,
            closing_wait_seconds=settings.closing_wait_ms / 1000,
            faults=FaultInjector(settings.faults, settings.fault_state_dir),
        )

    def handle(self, event: BlobCreated) -> IngestResult:
        """Process the upload named by ``event``; safe to call again for it.

        Raises
        ------
        TransientError
            Storage or the outcome topic failed; redeliver the event.
        """
        # Joining at the start tells a closing group to wait a moment for this
        # upload (see lib/ingest/group.py).
        with self.closing.join() as member:
            return self._handle(event, member)

    def _handle(self, event: BlobCreated, member: Member[_Closing]) -> IngestResult:
        started = time.perf_counter()
        incoming = self._service.get_blob_client(INCOMING, event.blob_name)
        with tempfile.SpooledTemporaryFile(
            max_size=self._spool_threshold_bytes
        ) as content:
            try:
                sha256, size = self._download(incoming, event.etag, content)
            except (ResourceNotFoundError, ResourceModifiedError):
                logger.info(
                    "ingest event=%s status=skipped reason=version-gone", event.event_id
                )
                return IngestResult(IngestStatus.SKIPPED)

            content.seek(0)
            validate_started = time.perf_counter()
            report = validate(
                content, size=size, max_upload_bytes=self._max_upload_bytes
            )
            decision = self._policy.decide(report)
            validate_ms = (time.perf_counter() - validate_started) * 1000
            self._faults.check("after_validate", sha256)
            upload = Upload(
                event, sha256, size, content, report, WriteSet(self._writer)
            )

            try:
                if decision.verdict is Verdict.REJECT and decision.primary:
                    result = self._reject(
                        incoming, upload, decision.primary, decision.rejecting
                    )
                else:
                    warnings = tuple(f.code for f in decision.warnings)
                    result = self._accept(incoming, upload, warnings, validate_ms)
            except SourceChangedError:
                # Replaced or removed while we worked: the newer version has
                # its own event, and a removal means another delivery finished.
                logger.info(
                    "ingest event=%s status=skipped reason=source-changed",
                    event.event_id,
                )
                return IngestResult(IngestStatus.SKIPPED)

        self._close(member, event, result, upload.rows)
        self._faults.check("before_delete", result.sha256)
        self._delete_incoming(incoming, event.etag)
        logger.info(
            "ingest event=%s status=%s sha256=%s size=%d codes=%s ms=%.1f",
            event.event_id,
            result.status.value,
            result.sha256,
            result.size,
            ",".join(result.codes) or "-",
            (time.perf_counter() - started) * 1000,
        )
        return result

    def _download(
        self, incoming: BlobClient, etag: str, sink: IO[bytes]
    ) -> tuple[str, int]:
        # Read exactly the version the event announced; chunked, so a large
        # blob never sits in memory whole (the spool moves to disk past the
        # threshold).
        digest = hashlib.sha256()
        size = 0
        try:
            downloader = incoming.download_blob(
                etag=quoted_etag(etag), match_condition=MatchConditions.IfNotModified
            )
            for chunk in downloader.chunks():
                digest.update(chunk)
                sink.write(chunk)
                size += len(chunk)
        except (ResourceNotFoundError, ResourceModifiedError):
            raise
        except AzureError as exc:
            raise TransientError(
                f"reading the upload from {INCOMING} failed ({type(exc).__name__})"
            ) from exc
        return digest.hexdigest(), size

    def _accept(
        self,
        incoming: BlobClient,
        upload: Upload,
        warnings: tuple[str, ...],
        validate_ms: float,
    ) -> IngestResult:
        name = raw_blob_name(upload.sha256)
        upload.writes.submit(
            copy_once,
            self._service,
            incoming,
            upload.event.etag,
            RAW,
            name,
            metadata={"validation_warnings": ",".join(warnings) or "none"},
        )
        # Each stage's duration goes with its result, for the lake's timing
        # columns and the outcome event.
        details: dict[str, Any] = {"validation": {"elapsed_ms": round(validate_ms, 1)}}
        rejection: StageRejection | None = None
        try:
            for stage in self._stages:
                stage_started = time.perf_counter()
                result = dict(stage.run(upload, details))
                elapsed = (time.perf_counter() - stage_started) * 1000
                details[stage.name] = {**result, "elapsed_ms": round(elapsed, 1)}
        except StageRejection as exc:
            rejection = exc
        finally:
            # The archive and every stage's writes are in place before anything
            # else happens, whatever the stages did.
            upload.writes.wait()
        self._faults.check("after_archive", upload.sha256)

        if rejection is not None:
            # A rejected upload is described by its rejection row alone.
            upload.rows.clear()
            return self._reject(
                incoming, upload, rejection.finding, (rejection.finding,)
            )
        return IngestResult(
            IngestStatus.ACCEPTED,
            sha256=upload.sha256,
            size=upload.size,
            location=f"{RAW}/{name}",
            codes=warnings,
            details=details,
        )

    def _reject(
        self,
        incoming: BlobClient,
        upload: Upload,
        primary: Finding,
        rejecting: tuple[Finding, ...],
    ) -> IngestResult:
        event = upload.event
        original_name, reason_name = quarantine_blob_names(
            upload.sha256, event.event_time
        )
        reason = _reason_record(upload, primary, rejecting)
        location = f"{QUARANTINE}/{original_name}"
        upload.writes.submit(
            copy_once, self._service, incoming, event.etag, QUARANTINE, original_name
        )
        upload.writes.submit(
            write_once,
            self._service,
            QUARANTINE,
            reason_name,
            json.dumps(reason, indent=2, sort_keys=True).encode(),
            content_type="application/json",
        )
        for sink in self._rejection_sinks:
            sink.record(upload, primary, location)
        upload.writes.wait()
        return IngestResult(
            IngestStatus.REJECTED,
            sha256=upload.sha256,
            size=upload.size,
            location=location,
            codes=tuple(f.code for f in rejecting),
            details={"check": primary.check, "keyword": primary.keyword},
        )

    def _close(
        self,
        member: Member[_Closing],
        event: BlobCreated,
        result: IngestResult,
        rows: Sequence[tuple[str, Mapping[str, Any]]],
    ) -> None:
        """Stage the upload's rows and publish its outcome, grouped with others."""
        if rows and self._row_stager is None:
            raise ConfigurationError(
                "a stage staged table rows but the pipeline has no row stager "
                "(lib/composition.py)"
            )
        accepted = result.status is IngestStatus.ACCEPTED
        outcome = Outcome(
            event_type=INSTANCE_ACCEPTED if accepted else INSTANCE_REJECTED,
            source_event_id=event.event_id,
            sha256=result.sha256,
            size=result.size,
            location=result.location,
            codes=result.codes,
            details=result.details,
        )
        member.submit(_Closing(tuple(rows), outcome))

    def _close_group(self, group: Sequence[_Closing]) -> None:
        # One staged blob for the group's rows, written while its outcomes are
        # published in one request; both finish before any member deletes.
        rows = [row for closing in group for row in closing.rows]
        logger.debug("closing group uploads=%d rows=%d", len(group), len(rows))
        staging = (
            self._writer.submit(self._row_stager, rows)
            if rows and self._row_stager is not None
            else None
        )
        try:
            self._publisher.publish([closing.outcome for closing in group])
        finally:
            if staging is not None:
                staging.result()

    def _delete_incoming(self, incoming: BlobClient, etag: str) -> None:
        try:
            # With its snapshots: a blob that has any cannot be deleted alone.
            incoming.delete_blob(
                delete_snapshots="include",
                etag=quoted_etag(etag),
                match_condition=MatchConditions.IfNotModified,
            )
        except ResourceNotFoundError:
            pass  # a concurrent delivery of the same event got there first
        except ResourceModifiedError:
            # A newer upload took the name; it has its own event. Keep it.
            logger.info("incoming blob replaced by a newer upload; left in place")
        except AzureError as exc:
            raise TransientError(
                f"removing the upload from {INCOMING} failed ({type(exc).__name__})"
            ) from exc


def _reason_record(
    upload: Upload, primary: Finding, rejecting: tuple[Finding, ...]
) -> dict[str, Any]:
    """The quarantine reason: codes, checks, keywords and sizes; never a value."""
    report: ValidationReport = upload.report
    return {
        "schemaVersion": REASON_SCHEMA_VERSION,
        "code": primary.code,
        "check": primary.check,
        "keyword": primary.keyword,
        "message": primary.message,
        "findings": [f.to_dict() for f in rejecting],
        "warnings": [f.to_dict() for f in report.findings if f not in rejecting],
        "sha256": upload.sha256,
        "size": upload.size,
        "eventId": upload.event.event_id,
        "eventTime": upload.event.event_time.isoformat(),
        "quarantinedAt": datetime.now(UTC).isoformat(),
    }
