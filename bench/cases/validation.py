"""Validation throughput against a plain ``pydicom.dcmread`` of the same bytes."""

from __future__ import annotations

import io
import time
from pathlib import Path
from typing import Any

import pydicom

from bench.cases import result
from lib.validation import validate

ROUNDS = 3


def _best_rate(blobs: list[bytes], work: Any) -> float:
    """Best of ``ROUNDS`` in MB/s, to damp noise from the other core."""
    total = sum(map(len, blobs))
    best = float("inf")
    for _ in range(ROUNDS):
        started = time.perf_counter()
        for data in blobs:
            work(data)
        best = min(best, time.perf_counter() - started)
    return total / best / 1e6


def run(corpus: list[Path], workdir: Path) -> list[dict[str, Any]]:
    blobs = [p.read_bytes() for p in corpus]

    def check(data: bytes) -> None:
        validate(io.BytesIO(data), size=len(data), max_upload_bytes=2**31)

    def read(data: bytes) -> None:
        pydicom.dcmread(io.BytesIO(data))

    ours = _best_rate(blobs, check)
    baseline = _best_rate(blobs, read)
    return [
        result(
            "validation",
            "validate (MB/s)",
            value=ours,
            unit="MB/s",
            baseline_name="pydicom.dcmread",
            baseline_value=baseline,
        )
    ]
