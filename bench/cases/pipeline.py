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
default 7), and ``bench/results.json`` keeps every round.

Each round also counts the CPU time both sides spend per file, all processes
included (Azurite, the dev host and its workers; the bench process for the
baseline). On two shared cores throughput follows CPU, and CPU time is far less
disturbed by a noisy neighbour than elapsed time, so the CPU ratio confirms
(or questions) the throughput ratio. It is read from ``/proc`` (Linux).
"""

from __future__ import annotations

import os
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

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
# How often the clock checks whether incoming is empty. Coarser polling would
# add up to one interval to every pipeline run of a few seconds.
DONE_POLL_SECONDS = 0.05


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


def _stat_fields(pid: int | str) -> list[str] | None:
    """The fields of ``/proc/PID/stat`` after the command name, or None if gone."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rpartition(")")[2].split()
    except OSError:
        return None


def _cpu_seconds(pids: set[int]) -> float:
    """User plus system CPU of ``pids`` so far (processes gone count nothing)."""
    total = 0
    for pid in pids:
        fields = _stat_fields(pid)
        if fields is not None:
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / os.sysconf("SC_CLK_TCK")


def _process_tree(root: int) -> set[int]:
    """``root`` and every process descended from it."""
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        fields = _stat_fields(entry) if entry.isdigit() else None
        if fields is not None:
            parents.setdefault(int(fields[1]), []).append(int(entry))
    tree, pending = set(), [root]
    while pending:
        pid = pending.pop()
        tree.add(pid)
        pending.extend(parents.get(pid, ()))
    return tree


def _azurite_processes(connection_string: str) -> set[int]:
    """The Azurite processes serving the blob endpoint of ``connection_string``."""
    fields = dict(part.split("=", 1) for part in connection_string.split(";") if part)
    port = str(urlsplit(fields["BlobEndpoint"]).port)
    found = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as cmdline:
                argv = cmdline.read().split(b"\0")
        except OSError:
            continue
        if b"--blobPort" in argv and port.encode() in argv:
            found.add(int(entry))
    if not found:
        raise RuntimeError(f"no Azurite process serves port {port}")
    return found


def _baseline(
    service: BlobServiceClient, blobs: list[bytes], workers: int, azurite: set[int]
) -> tuple[float, float]:
    """Seconds to copy every blob, and the CPU seconds both processes spent."""
    _upload_all(service, "benchsrc", blobs)
    source = service.get_container_client("benchsrc")
    target = service.get_container_client("benchdst")
    names = [b.name for b in source.list_blobs()]

    def copy(name: str) -> None:
        data = source.download_blob(name).readall()
        target.upload_blob(name, data, overwrite=False)

    cpu_started = time.process_time() + _cpu_seconds(azurite)
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(copy, names))
    elapsed = time.perf_counter() - started
    return elapsed, time.process_time() + _cpu_seconds(azurite) - cpu_started


def _pipeline(
    env: dict[str, str],
    port: int,
    workers: int,
    threads: int,
    service: BlobServiceClient,
    blobs: list[bytes],
    azurite: set[int],
) -> tuple[float, float]:
    """Seconds until the pipeline has emptied incoming, and the CPU seconds of
    Azurite, the dev host and its workers meanwhile."""
    # The blobs are in incoming before the host starts; the clock runs from
    # the moment the host answers until incoming is empty.
    _upload_all(service, INCOMING, blobs)
    incoming = service.get_container_client(INCOMING)
    with running_devhost(env, port=port, workers=workers, threads=threads) as host:
        processes = _process_tree(host.process.pid) | azurite
        cpu_started = _cpu_seconds(processes)
        started = time.perf_counter()
        while any(True for _ in incoming.list_blobs(results_per_page=1)):
            time.sleep(DONE_POLL_SECONDS)
        elapsed = time.perf_counter() - started
        cpu = _cpu_seconds(processes) - cpu_started
        host.wait_idle(timeout=60)
    archived = sum(1 for _ in service.get_container_client(RAW).list_blobs())
    if archived != len(blobs):
        raise RuntimeError(f"pipeline archived {archived} of {len(blobs)} blobs")
    return elapsed, cpu


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
    # CPU milliseconds per file, (pipeline, baseline) per round.
    cpu_pairs: list[tuple[float, float]] = []
    for _ in range(rounds):
        # Each side runs on an Azurite started for it: the emulator's state
        # from an earlier run (extent records, its in-memory database) slows
        # the next one, which would tax whichever side runs second.
        with running_azurite() as connection_string:
            service = BlobServiceClient.from_connection_string(connection_string)
            _fresh_containers(service)
            seconds, baseline_cpu = _baseline(
                service,
                blobs,
                workers * threads,
                _azurite_processes(connection_string),
            )
            baseline = len(blobs) / seconds
        with running_azurite() as connection_string:
            service = BlobServiceClient.from_connection_string(connection_string)
            _fresh_containers(service)
            port = free_port()
            seconds, pipeline_cpu = _pipeline(
                _pipeline_env(connection_string, port),
                port,
                workers,
                threads,
                service,
                blobs,
                _azurite_processes(connection_string),
            )
            pipeline = len(blobs) / seconds
        pairs.append((pipeline, baseline))
        cpu_pairs.append(
            (1000 * pipeline_cpu / len(blobs), 1000 * baseline_cpu / len(blobs))
        )

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
                {
                    "pipeline": round(p, 2),
                    "baseline": round(b, 2),
                    "pipeline_cpu_ms_per_file": round(pc, 2),
                    "baseline_cpu_ms_per_file": round(bc, 2),
                }
                for (p, b), (pc, bc) in zip(pairs, cpu_pairs, strict=True)
            ],
            # Baseline CPU over pipeline CPU per file: the throughput ratio a
            # CPU-bound machine would show, with the noise of elapsed time left
            # out.
            cpu_ratio=round(
                statistics.median(bc / pc for pc, bc in cpu_pairs if pc), 3
            ),
            ratio_range=[round(ratios[0], 3), round(ratios[-1], 3)],
        )
    ]
