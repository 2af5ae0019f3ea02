"""The whole event pipeline on Azurite against a bare download plus upload.

Both sides move the same blobs with the same parallelism: the dev host runs
``workers`` processes of ``threads`` concurrent invocations each (its defaults,
as the Functions host's: one process per core, the Python worker's thread
count), and the baseline runs ``workers x threads`` copies at a time. The
baseline downloads each blob from one container and uploads it to another; the
pipeline is the dev host running the real app (validate, archive, de-identify,
stage lake rows, publish, delete) on blobs already in ``incoming``, timed from the
moment the host answers until ``incoming`` is empty. Rounds pair the two sides;
the figure is the median of the rounds' ratios (``MEDLAKE_BENCH_PIPELINE_ROUNDS``,
default 5), and ``bench/results.json`` keeps every round.
"""

from __future__ import annotations

import os
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from azure.storage.blob import BlobServiceClient

from bench.cases import result
from devhost.config import python_worker_threads
from lib.storage import INCOMING, RAW, ensure_containers
from tests.support.azurite import free_port, running_azurite
from tests.support.devhost import running_devhost

BUDGET = 0.5
# Rounds of (baseline, pipeline); the reported ratio is the median of the
# rounds' ratios. A single side's best round is a poor estimate: the baseline's
# run is half as long as the pipeline's, so its best round is the luckier one.
ROUNDS = 7


def _upload_all(service: BlobServiceClient, container: str, blobs: list[bytes]) -> None:
    client = service.get_container_client(container)
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(
            pool.map(
                lambda item: client.upload_blob(f"b/{item[0]:05d}.dcm", item[1]),
                enumerate(blobs),
            )
        )


def _fresh_containers(service: BlobServiceClient) -> None:
    for container in service.list_containers():
        service.delete_container(container.name)
    ensure_containers(service)
    service.create_container("benchsrc")
    service.create_container("benchdst")


def _baseline(service: BlobServiceClient, blobs: list[bytes], workers: int) -> float:
    _upload_all(service, "benchsrc", blobs)
    source = service.get_container_client("benchsrc")
    target = service.get_container_client("benchdst")
    names = [b.name for b in source.list_blobs()]

    def copy(name: str) -> None:
        data = source.download_blob(name).readall()
        target.upload_blob(name, data, overwrite=False)

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(copy, names))
    return time.perf_counter() - started


def _pipeline(
    env: dict[str, str],
    port: int,
    workers: int,
    threads: int,
    service: BlobServiceClient,
    blobs: list[bytes],
) -> float:
    # The blobs are in incoming before the host starts; the clock runs from
    # the moment the host answers until incoming is empty.
    _upload_all(service, INCOMING, blobs)
    incoming = service.get_container_client(INCOMING)
    with running_devhost(env, port=port, workers=workers, threads=threads) as host:
        started = time.perf_counter()
        while any(True for _ in incoming.list_blobs(results_per_page=1)):
            time.sleep(0.25)
        elapsed = time.perf_counter() - started
        host.wait_idle(timeout=60)
    archived = sum(1 for _ in service.get_container_client(RAW).list_blobs())
    if archived != len(blobs):
        raise RuntimeError(f"pipeline archived {archived} of {len(blobs)} blobs")
    return elapsed


def _pipeline_env(connection_string: str, port: int) -> dict[str, str]:
    return {
        "MEDLAKE_STORAGE_CONNECTION": connection_string,
        "MEDLAKE_DEV_MODE": "true",
        "MEDLAKE_OUTCOME_TOPIC_ENDPOINT": (
            f"http://127.0.0.1:{port}/runtime/topics/outcomes/api/events"
        ),
        "MEDLAKE_OUTCOME_TOPIC_KEY": "bench-topic-key",
        "MEDLAKE_DEID_KEY": "42" * 32,
        "MEDLAKE_DEVHOST_POLL_SECONDS": "1.0",
    }


def run(corpus: list[Path], workdir: Path) -> list[dict[str, Any]]:
    blobs = [p.read_bytes() for p in corpus]
    workers = int(os.environ.get("MEDLAKE_BENCH_WORKERS", "0")) or os.cpu_count() or 2
    threads = (
        int(os.environ.get("MEDLAKE_BENCH_THREADS", "0")) or python_worker_threads()
    )
    rounds = int(os.environ.get("MEDLAKE_BENCH_PIPELINE_ROUNDS", str(ROUNDS)))
    pairs: list[tuple[float, float]] = []
    for _ in range(rounds):
        # Each side runs on an Azurite started for it: the emulator's state
        # from an earlier run (extent records, its in-memory database) slows
        # the next one, which would tax whichever side runs second.
        with running_azurite() as connection_string:
            service = BlobServiceClient.from_connection_string(connection_string)
            _fresh_containers(service)
            baseline = len(blobs) / _baseline(service, blobs, workers * threads)
        with running_azurite() as connection_string:
            service = BlobServiceClient.from_connection_string(connection_string)
            _fresh_containers(service)
            port = free_port()
            pipeline = len(blobs) / _pipeline(
                _pipeline_env(connection_string, port),
                port,
                workers,
                threads,
                service,
                blobs,
            )
        pairs.append((pipeline, baseline))

    ratios = sorted(ours / theirs for ours, theirs in pairs)
    ours = statistics.median(p for p, _ in pairs)
    theirs = statistics.median(b for _, b in pairs)
    ratio = statistics.median(ratios)
    return [
        result(
            "pipeline",
            f"event pipeline, {workers} workers x {threads} threads",
            value=ours,
            unit="files/s",
            baseline_name="download + upload of the same blobs",
            baseline_value=theirs,
            ratio=ratio,
            budget=BUDGET,
            rounds=[
                {"pipeline": round(p, 2), "baseline": round(b, 2)} for p, b in pairs
            ],
            ratio_range=[round(ratios[0], 3), round(ratios[-1], 3)],
        )
    ]
