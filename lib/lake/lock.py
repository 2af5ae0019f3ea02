"""A blob lease that lets one lake committer run at a time.

Two overlapping timer runs (a slow run still going when the next minute fires,
or two host instances) would each merge the same staged rows. MERGE on natural
keys already keeps that correct; the lease keeps it cheap, and keeps compaction
from racing a commit. The lease lasts :data:`LEASE_SECONDS` and is renewed while
the holder works, so a crashed holder frees it within a minute.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Iterator

from azure.core.exceptions import (
    AzureError,
    HttpResponseError,
    ResourceExistsError,
)
from azure.storage.blob import BlobLeaseClient, BlobServiceClient

from lib.errors import TransientError
from lib.lake.storage import LOCK_PREFIX
from lib.storage import LAKE

__all__ = ["LEASE_SECONDS", "LakeBusy", "commit_lock"]

logger = logging.getLogger(__name__)

LEASE_SECONDS = 60  # the longest finite lease Blob Storage grants
RENEW_EVERY_SECONDS = 15.0
POLL_SECONDS = 1.0


class LakeBusy(Exception):
    """Another committer holds the lease; this run has nothing to do."""


def _renew(lease: BlobLeaseClient, stop: threading.Event) -> None:
    while not stop.wait(RENEW_EVERY_SECONDS):
        try:
            lease.renew()
        except AzureError as exc:
            # The work continues; MERGE idempotence covers an overlap that a
            # lost lease allows. Someone will see the warning.
            logger.warning("lake lock renewal failed (%s)", type(exc).__name__)


def _acquire(lease: BlobLeaseClient, name: str, wait_seconds: float) -> None:
    deadline = time.monotonic() + wait_seconds
    while True:
        try:
            lease.acquire(lease_duration=LEASE_SECONDS)
            return
        except HttpResponseError as exc:
            if exc.status_code != 409:
                raise TransientError(
                    f"taking the lake {name} lock failed ({type(exc).__name__})"
                ) from exc
            if time.monotonic() >= deadline:
                raise LakeBusy(name) from exc
            time.sleep(POLL_SECONDS)
        except AzureError as exc:
            raise TransientError(
                f"taking the lake {name} lock failed ({type(exc).__name__})"
            ) from exc


@contextlib.contextmanager
def commit_lock(
    service: BlobServiceClient, name: str = "commit", *, wait_seconds: float = 0.0
) -> Iterator[None]:
    """Hold the lease on ``lake/_locks/{name}`` for the ``with`` block.

    Parameters
    ----------
    service : BlobServiceClient
        The account holding the ``lake`` container.
    name : str
        The lock blob's name under ``lake/_locks/``.
    wait_seconds : float
        How long to wait for a holder to finish; 0: give up at once.

    Raises
    ------
    LakeBusy
        Another run holds the lease (still, after ``wait_seconds``).
    TransientError
        Storage failed.
    """
    blob = service.get_blob_client(LAKE, f"{LOCK_PREFIX}/{name}")
    with contextlib.suppress(ResourceExistsError):
        blob.upload_blob(b"", overwrite=False)
    lease = BlobLeaseClient(blob)
    _acquire(lease, name, wait_seconds)

    stop = threading.Event()
    renewer = threading.Thread(
        target=_renew, args=(lease, stop), name=f"lake-{name}-lease", daemon=True
    )
    renewer.start()
    try:
        yield
    finally:
        stop.set()
        renewer.join()
        with contextlib.suppress(AzureError):
            lease.release()
