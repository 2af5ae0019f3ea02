"""The blob watcher: plays Event Grid for the ``incoming`` container.

In Azure, a Storage event subscription sends ``Microsoft.Storage.BlobCreated``
to the ingest function for each upload. Azurite has no Event Grid, so the dev
host lists ``incoming`` every poll interval and turns each new (name, ETag) pair
into one such event, delivered with Event Grid's retry and dead-letter policy.
Each listing page is published as it arrives, so a large backlog starts
moving after the first hundred blobs. While every worker has a delivery
waiting, the next page or listing is put off until the backlog drains: listing
cannot speed up work already queued, and parsing a listing of thousands of
blobs costs more CPU than the deliveries themselves.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from azure.core.exceptions import ResourceExistsError
from azure.storage.blob import BlobServiceClient, ContentSettings

from devhost.dispatcher import Dispatcher
from devhost.events import blob_created_event, parse_time
from lib.storage import DEADLETTER, INCOMING, deadletter_blob_name

__all__ = ["BlobWatcher"]

logger = logging.getLogger(__name__)

DEAD_LETTER_WRITE_ATTEMPTS = 3
BACKLOG_CHECK_SECONDS = 0.05
# Blobs per listing request; deliveries start after the first page.
LISTING_PAGE_SIZE = 100


@dataclass(frozen=True)
class _Blob:
    name: str
    etag: str
    last_modified: datetime
    content_type: str
    size: int


class BlobWatcher:
    """Poll ``incoming`` and deliver each new blob to the Event Grid functions.

    Parameters
    ----------
    service : BlobServiceClient
        The storage account the app uses (from ``Settings.from_env()``).
    dispatcher : Dispatcher
        Runs the deliveries.
    functions : Sequence[str]
        The Event Grid functions subscribed to ``BlobCreated``.
    poll_seconds : float
        Interval between listings.
    """

    def __init__(
        self,
        service: BlobServiceClient,
        dispatcher: Dispatcher,
        functions: Sequence[str],
        poll_seconds: float,
    ) -> None:
        self.service = service
        self.dispatcher = dispatcher
        self.functions = tuple(functions)
        self.poll_seconds = poll_seconds
        self.state = "starting"
        self.polls_started = 0
        self.polls_completed = 0
        self.polls_deferred = 0
        self.last_successful_poll = 0
        self.events_published = 0
        self.last_error = ""
        self._containers_ready = False
        # (name, ETag) pairs already turned into events. A pair is forgotten once
        # the blob is gone or overwritten, which keeps the set as small as the
        # container; an overwrite has a new ETag and so is a new event.
        self._known: set[tuple[str, str]] = set()

    def status(self) -> dict[str, Any]:
        """The watcher part of ``/runtime/status``."""
        return {
            "enabled": True,
            "state": self.state,
            "container": INCOMING,
            "functions": list(self.functions),
            "pollSeconds": self.poll_seconds,
            "pollsStarted": self.polls_started,
            "pollsCompleted": self.polls_completed,
            "pollsDeferred": self.polls_deferred,
            "lastSuccessfulPoll": self.last_successful_poll,
            "eventsPublished": self.events_published,
            "tracked": len(self._known),
            "lastError": self.last_error,
        }

    def _backlogged(self) -> bool:
        # Every worker has a delivery queued behind the one it runs: a listing
        # now could only add work behind that backlog, and listing a large
        # container costs the host more CPU than a delivery does.
        pool = self.dispatcher.pool
        return pool.waiting >= pool.size

    async def run(self, stop: asyncio.Event) -> None:
        """Poll until ``stop`` is set; storage outages are logged and outlived.

        While the workers have a backlog the next listing waits, checked every
        ``BACKLOG_CHECK_SECONDS``, and runs as soon as the backlog drains.
        """
        while not stop.is_set():
            await self._wait_out_backlog(stop)
            if stop.is_set():
                break
            self.polls_started += 1
            poll = self.polls_started
            try:
                await self._poll(stop)
            except Exception as exc:
                self._record_outage(exc)
            else:
                self.polls_completed += 1
                # The number of the poll, not a count: a caller that saw
                # pollsStarted == n knows a poll begun after it has finished
                # (and its events are counted in flight) once this exceeds n.
                self.last_successful_poll = poll
                if self.state != "running":
                    logger.info("watcher polling container %s", INCOMING)
                self.state = "running"
                self.last_error = ""
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.poll_seconds)
        self.state = "stopped"

    async def _poll(self, stop: asyncio.Event) -> None:
        """List ``incoming`` a page at a time, publishing each page's new blobs.

        Event Grid announces each blob as it is created; publishing per page
        keeps the first deliveries of a large backlog from waiting for the whole
        listing. Between pages the listing waits while the workers have a
        backlog, as between polls.
        """
        pages = self._list_incoming()  # a generator: each page is read in a thread
        listed: set[tuple[str, str]] = set()
        while not stop.is_set():
            item = await asyncio.to_thread(next, pages, None)
            if item is None:
                # Forget what is gone or overwritten only after the whole
                # listing: a blob not on this page may be on a later one.
                self._known &= listed
                return
            page, more = item
            listed.update((blob.name, blob.etag) for blob in page)
            self._publish(page)
            if more:
                await self._wait_out_backlog(stop)

    async def _wait_out_backlog(self, stop: asyncio.Event) -> None:
        """Return when the workers have no backlog (or at ``stop``), checking every
        ``BACKLOG_CHECK_SECONDS``; each wait counts in ``pollsDeferred``."""
        # Let deliveries just started reach the pool's queue (they run up to
        # their wait for a slot), so the backlog check counts them.
        await asyncio.sleep(0)
        if not self._backlogged():
            return
        self.polls_deferred += 1
        while self._backlogged() and not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    stop.wait(),
                    timeout=min(self.poll_seconds, BACKLOG_CHECK_SECONDS),
                )

    def _record_outage(self, exc: Exception) -> None:
        # Only the exception type: storage errors can quote the request URL.
        if self.state != "unreachable":
            logger.warning(
                "storage unreachable (%s); the watcher keeps retrying",
                type(exc).__name__,
            )
        self.state = "unreachable"
        self.last_error = type(exc).__name__

    def _list_incoming(self) -> Iterator[tuple[list[_Blob], bool]]:
        """Each page of ``incoming``, and whether another page follows."""
        if not self._containers_ready:
            for name in (INCOMING, DEADLETTER):
                with contextlib.suppress(ResourceExistsError):
                    self.service.create_container(name, retry_total=0)
            self._containers_ready = True
        container = self.service.get_container_client(INCOMING)
        # No SDK retries: the next poll is the retry, and a dead emulator must
        # not stall the loop for the SDK's full back-off schedule.
        pages = container.list_blobs(
            results_per_page=LISTING_PAGE_SIZE, retry_total=0
        ).by_page()
        for page in pages:
            blobs = [
                _Blob(
                    name=item.name,
                    etag=str(item.etag).strip('"'),
                    last_modified=item.last_modified,
                    content_type=item.content_settings.content_type
                    or "application/octet-stream",
                    size=int(item.size or 0),
                )
                for item in page
            ]
            yield blobs, bool(pages.continuation_token)

    def _publish(self, blobs: list[_Blob]) -> None:
        container_url = self.service.get_container_client(INCOMING).url
        for blob in sorted(blobs, key=lambda b: b.last_modified):
            if (blob.name, blob.etag) in self._known:
                continue
            self._known.add((blob.name, blob.etag))
            event = blob_created_event(
                account=self.service.account_name or "devstoreaccount1",
                container=INCOMING,
                container_url=container_url,
                name=blob.name,
                etag=blob.etag,
                last_modified=blob.last_modified,
                content_type=blob.content_type,
                content_length=blob.size,
            )
            self.events_published += 1
            for function in self.functions:
                self.dispatcher.start_delivery(function, event, self)

    def dead_letter_name(self, function: str, event: Mapping[str, Any]) -> str:
        """Where the dead-letter document of ``event`` for ``function`` goes.

        Event Grid keeps one dead-letter location per subscription; with one
        subscribed function that is the storage contract's name, with several
        the function name is added so the documents do not overwrite each other.
        """
        event_id = event["id"]
        if len(self.functions) > 1:
            event_id = f"{event_id}_{function}"
        return deadletter_blob_name(event_id, parse_time(event["eventTime"]))

    async def write(
        self, function: str, event: Mapping[str, Any], document: list[dict[str, Any]]
    ) -> None:
        """Write a dead-letter document, retrying briefly when storage fails."""
        name = self.dead_letter_name(function, event)
        body = json.dumps(document, indent=2).encode("utf-8")
        blob = self.service.get_blob_client(DEADLETTER, name)
        for attempt in range(1, DEAD_LETTER_WRITE_ATTEMPTS + 1):
            try:
                await asyncio.to_thread(
                    blob.upload_blob,
                    body,
                    overwrite=True,
                    content_settings=ContentSettings(content_type="application/json"),
                )
                return
            except Exception:
                if attempt == DEAD_LETTER_WRITE_ATTEMPTS:
                    raise
                await asyncio.sleep(0.5 * attempt)
