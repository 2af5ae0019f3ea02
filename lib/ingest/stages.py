"""The seam where later stages (de-identification, inference, lake) plug in.

A stage runs after the original is archived in ``raw`` and before the upload is
removed from ``incoming``. It returns non-PHI details for the outcome event, or
raises :class:`StageRejection` to send the upload to quarantine with its own code.
Stages must be idempotent: a redelivered event runs them again.

Large outputs (the de-identified instance) are written by the stage through the
upload's :class:`WriteSet`; small table rows are handed to
:meth:`Upload.stage_row`, and the pipeline writes the rows of concurrent uploads
together (see :mod:`lib.ingest.group`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from concurrent import futures
from concurrent.futures import Executor, Future
from dataclasses import dataclass, field
from typing import IO, Any, Protocol

from lib.errors import MedlakeError
from lib.events import BlobCreated
from lib.validation import Finding, ValidationReport


class StageRejection(MedlakeError):
    """A stage found the upload unusable; the finding becomes the quarantine reason."""

    def __init__(self, finding: Finding) -> None:
        super().__init__(f"{finding.code}: {finding.message}")
        self.finding = finding


class WriteSet:
    """The storage writes of one upload, run concurrently.

    Stages compute in order but their writes (archive copy, de-identified
    instance, staged lake rows) are independent, so they overlap: each costs a
    storage round trip, and waiting for them one after another would dominate
    the time per upload. :meth:`wait` returns when every write has finished and
    raises the first failure, before anything is published or deleted.

    Without an executor, writes run at once in the caller's thread (for tests
    and tools that use a stage on its own).
    """

    def __init__(self, executor: Executor | None = None) -> None:
        self._executor = executor
        self._pending: list[Future[object]] = []

    def submit(
        self, write: Callable[..., object], /, *args: Any, **kwargs: Any
    ) -> None:
        """Start ``write(*args, **kwargs)``."""
        if self._executor is None:
            write(*args, **kwargs)
            return
        self._pending.append(self._executor.submit(write, *args, **kwargs))

    def wait(self) -> None:
        """Wait for every write; raise the first one's exception, if any."""
        pending, self._pending = self._pending, []
        futures.wait(pending)
        for future in pending:
            error = future.exception()
            if error is not None:
                raise error


@dataclass(frozen=True)
class Upload:
    """One upload being processed: its content, hash and validation report.

    The content is a seekable stream (in memory for small blobs, a temporary file
    for large ones). ``repr`` shows no content and no blob name.
    """

    event: BlobCreated
    sha256: str
    size: int
    content: IO[bytes]
    report: ValidationReport
    writes: WriteSet = field(default_factory=WriteSet, compare=False)
    rows: list[tuple[str, Mapping[str, Any]]] = field(
        default_factory=list, compare=False
    )

    def stage_row(self, table: str, row: Mapping[str, Any]) -> None:
        """Have ``row`` staged for ``table`` before the upload leaves ``incoming``."""
        self.rows.append((table, row))

    def read_bytes(self) -> bytes:
        """The whole upload, read once and shared by every stage."""
        return self._bytes

    @functools.cached_property
    def _bytes(self) -> bytes:
        self.content.seek(0)
        return self.content.read()

    def __repr__(self) -> str:
        return f"Upload(sha256={self.sha256!r}, size={self.size})"


class Stage(Protocol):
    """One step between archive and delete.

    ``earlier`` holds what the stages before it returned, keyed by stage name
    (the lake stage reads the de-identification stage's new UIDs from it).
    """

    name: str

    def run(
        self, upload: Upload, earlier: Mapping[str, Mapping[str, Any]]
    ) -> Mapping[str, Any]: ...


class RowStager(Protocol):
    """Writes the staged rows of one or more uploads in one request."""

    def __call__(self, rows: Sequence[tuple[str, Mapping[str, Any]]]) -> object: ...


class RejectionSink(Protocol):
    """Told about every quarantined upload (the lake's ``rejections`` table)."""

    def record(self, upload: Upload, finding: Finding, location: str) -> None: ...
