"""``medlake ingest PATH...``: upload files and folders to ``incoming``.

Blobs are named ``uploads/{sha256}.dcm``: file and folder names from PACS exports
often contain patient names, and a content name makes re-runs skip what is
already there.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from azure.core.exceptions import ResourceExistsError
from azure.storage.blob import BlobServiceClient, ContentSettings
from tqdm import tqdm

from cli.config import LOCAL_SETTINGS, load_settings
from cli.files import iter_files
from lib.storage import (
    INCOMING,
    QUARANTINE,
    RAW,
    blob_service_client,
    ensure_containers,
    raw_blob_name,
)

UPLOAD_PREFIX = "uploads/"
HASH_CHUNK = 1024 * 1024


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "ingest",
        help="upload DICOM files and folders to the incoming container",
        description="Upload files (folders recursively) to 'incoming', in "
        "parallel, skipping content that is already uploaded or archived.",
    )
    parser.add_argument("paths", nargs="+", metavar="PATH")
    parser.add_argument(
        "--workers", type=int, default=8, help="parallel uploads (default 8)"
    )
    parser.add_argument(
        "--connection-string",
        help="storage connection string (default: MEDLAKE_STORAGE_CONNECTION, "
        "then local.settings.json, then Azurite)",
    )
    parser.add_argument(
        "--wait",
        type=float,
        metavar="SECONDS",
        default=0,
        help="then wait up to SECONDS for the pipeline and print what became of "
        "each upload",
    )
    parser.set_defaults(func=run)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass(frozen=True)
class Uploaded:
    sha256: str
    blob_name: str
    skipped: bool


def upload_one(service: BlobServiceClient, path: Path) -> Uploaded:
    """Upload ``path`` unless its content is already in ``incoming`` or ``raw``."""
    sha256 = sha256_of(path)
    name = f"{UPLOAD_PREFIX}{sha256}.dcm"
    if service.get_blob_client(RAW, raw_blob_name(sha256)).exists():
        return Uploaded(sha256, name, skipped=True)
    with path.open("rb") as stream:
        try:
            service.get_blob_client(INCOMING, name).upload_blob(
                stream,
                overwrite=False,
                content_settings=ContentSettings(content_type="application/dicom"),
            )
        except ResourceExistsError:
            return Uploaded(sha256, name, skipped=True)
    return Uploaded(sha256, name, skipped=False)


def run(args: argparse.Namespace) -> int:
    files = list(iter_files(args.paths))
    if not files:
        print("nothing to ingest: no files under the given paths", file=sys.stderr)
        return 1
    settings = load_settings(LOCAL_SETTINGS, args.connection_string)
    service = blob_service_client(settings, interactive=True)
    ensure_containers(service)

    started = time.monotonic()
    since = datetime.now(UTC)
    results: list[Uploaded] = []
    with (
        ThreadPoolExecutor(max_workers=max(1, args.workers)) as pool,
        tqdm(total=len(files), unit="file", desc="uploading", file=sys.stderr) as bar,
    ):
        for result in pool.map(lambda p: upload_one(service, p), files):
            results.append(result)
            bar.update()
    uploaded = [r for r in results if not r.skipped]
    print(
        f"uploaded {len(uploaded)} file(s), skipped {len(results) - len(uploaded)} "
        f"already present, in {time.monotonic() - started:.1f}s"
    )
    if args.wait <= 0:
        return 0
    return wait_for_outcomes(service, results, since, args.wait)


def wait_for_outcomes(
    service: BlobServiceClient,
    results: list[Uploaded],
    since: datetime,
    timeout: float,
) -> int:
    """Wait until no upload of ours is left in ``incoming``; print the outcomes."""
    pending = {r.blob_name for r in results if not r.skipped}
    started = time.monotonic()
    incoming = service.get_container_client(INCOMING)
    with tqdm(
        total=len(pending), unit="file", desc="processing", file=sys.stderr
    ) as bar:
        while pending and time.monotonic() - started < timeout:
            present = {
                b.name for b in incoming.list_blobs(name_starts_with=UPLOAD_PREFIX)
            }
            done = pending - present
            bar.update(len(done))
            pending -= done
            if pending:
                time.sleep(0.25)
    elapsed = time.monotonic() - started

    shas = {r.sha256 for r in results}
    accepted = {
        s for s in shas if service.get_blob_client(RAW, raw_blob_name(s)).exists()
    }
    codes = quarantine_codes(service, shas - accepted, since)
    by_code = Counter(codes.values())
    print(f"accepted     {len(accepted)}")
    print(f"quarantined  {len(codes)}")
    for code, count in sorted(by_code.items()):
        print(f"  {code:<32} {count}")
    if pending:
        print(f"still in incoming after {timeout:.0f}s: {len(pending)}")
        return 1
    print(f"processed in {elapsed:.1f}s")
    return 0


def quarantine_codes(
    service: BlobServiceClient, shas: set[str], since: datetime
) -> dict[str, str]:
    """Reason codes of quarantined uploads, read from their reason records."""
    container = service.get_container_client(QUARANTINE)
    codes: dict[str, str] = {}
    day = since - timedelta(days=1)
    while day.date() <= datetime.now(UTC).date():
        for blob in container.list_blobs(name_starts_with=f"{day:%Y/%m/%d}/"):
            sha = blob.name.rsplit("/", 1)[-1].removesuffix(".json")
            if blob.name.endswith(".json") and sha in shas:
                record = json.loads(container.download_blob(blob.name).readall())
                codes[sha] = str(record.get("code"))
        day += timedelta(days=1)
    return codes
