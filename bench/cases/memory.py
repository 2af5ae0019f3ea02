"""Peak memory of the whole pipeline for one large instance.

ARCHITECTURE.md's budget: at most 1.5x the instance's size plus a fixed 300 MB.
A fresh process builds the pipeline (imports and clients included in the fixed
part), handles one ~200 MB CT instance on Azurite, and reports its peak resident
set size (``VmHWM``). The baseline is the instance's size.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pydicom
from azure.storage.blob import BlobServiceClient

from bench.cases import result
from lib.samples import SyntheticPatient, ct_instance
from lib.storage import INCOMING, ensure_containers
from tests.support.azurite import running_azurite

MB = 1_000_000
SIDE = 10240  # 10240 x 10240 x 16 bit = 210 MB of native pixel data
FIXED_BUDGET = 300 * MB

# VmHWM (peak RSS of this address space) rather than ru_maxrss: Linux carries
# ru_maxrss over from the parent across fork and exec, so it would report the
# benchmark process's own peak.
_CHILD = """
import json, sys
from datetime import datetime
from lib.composition import build_pipeline
from lib.events import BlobCreated
def hwm():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
pipeline = build_pipeline()
before = hwm()
fields = json.loads(sys.argv[1])
fields["event_time"] = datetime.fromisoformat(fields["event_time"])
result = pipeline.handle(BlobCreated(**fields))
print(json.dumps({"status": result.status.value, "before": before, "peak": hwm()}))
"""


def _large_instance() -> bytes:
    small = ct_instance(SyntheticPatient(77), 1, 1, 1, rows=16, columns=16)
    dataset = pydicom.dcmread(io.BytesIO(small))
    dataset.Rows = dataset.Columns = SIDE
    dataset.PixelData = bytes(SIDE * SIDE * 2)
    buffer = io.BytesIO()
    dataset.save_as(buffer)
    return buffer.getvalue()


def run(corpus: list[Path], workdir: Path) -> list[dict[str, Any]]:
    data = _large_instance()
    size = len(data)
    with running_azurite() as connection_string:
        service = BlobServiceClient.from_connection_string(connection_string)
        ensure_containers(service)
        props = service.get_blob_client(INCOMING, "large.dcm").upload_blob(data)
        del data
        event = {
            "event_id": str(uuid.uuid4()),
            "event_time": datetime.now(UTC).isoformat(),
            "container": INCOMING,
            "blob_name": "large.dcm",
            "etag": str(props["etag"]),
            "content_length": size,
        }
        env = {
            "MEDLAKE_STORAGE_CONNECTION": connection_string,
            "MEDLAKE_DEID_KEY": "42" * 32,
            "PATH": "/usr/bin:/bin",
        }
        child = subprocess.run(
            [sys.executable, "-c", _CHILD, json.dumps(event)],
            capture_output=True,
            text=True,
            env=env,
            cwd=Path(__file__).resolve().parents[2],
            check=True,
            timeout=600,
        )
    measured = json.loads(child.stdout.strip().splitlines()[-1])
    if measured["status"] != "accepted":
        raise RuntimeError(f"large instance was {measured['status']}")
    peak = measured["peak"]
    budget = 1.5 * size + FIXED_BUDGET
    return [
        result(
            "memory",
            f"pipeline peak RSS, {size / MB:.0f} MB instance (MB)",
            value=peak / MB,
            unit="MB",
            baseline_name="the instance's size; budget 1.5x + 300 MB",
            baseline_value=size / MB,
            ratio=peak / size,
            # Expressed as a ratio to the size, the budget depends on the size,
            # so the case gives its own verdict.
            passed=peak <= budget,
            budget_mb=budget / MB,
            before_mb=measured["before"] / MB,
        )
    ]
