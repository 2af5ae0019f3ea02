"""``make bench``: run every case in ``bench/cases`` and write ``bench/results.json``.

Each case module exposes ``run(corpus, workdir) -> list[dict]``; every result
names its baseline, measured in the same run on the same bytes, and the ratio.
Ratios, not absolute times, are what the budgets in ARCHITECTURE.md constrain.

Environment: ``MEDLAKE_BENCH_COUNT`` (corpus size, default 300),
``MEDLAKE_BENCH_CASES`` (comma-separated subset).
"""

from __future__ import annotations

import importlib
import json
import os
import pkgutil
import platform
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import bench.cases
from lib.samples import write_ct_corpus

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results.json"
CORPUS = ROOT / "bench" / ".corpus" / "ct512"


def machine() -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(memory / 2**30, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def main() -> int:
    count = int(os.environ.get("MEDLAKE_BENCH_COUNT", "300"))
    wanted = {c for c in os.environ.get("MEDLAKE_BENCH_CASES", "").split(",") if c}
    print(f"corpus: {count} generated 512x512 CT instances in {CORPUS}", flush=True)
    corpus = write_ct_corpus(CORPUS, count)

    results: list[dict[str, Any]] = []
    for info in sorted(
        pkgutil.iter_modules(bench.cases.__path__), key=lambda m: m.name
    ):
        if wanted and info.name not in wanted:
            continue
        module = importlib.import_module(f"bench.cases.{info.name}")
        print(f"case {info.name} ...", flush=True)
        started = time.monotonic()
        with tempfile.TemporaryDirectory(prefix=f"medlake-bench-{info.name}-") as work:
            results.extend(module.run(corpus, Path(work)))
        print(f"case {info.name} done in {time.monotonic() - started:.1f}s", flush=True)

    document = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "corpus": {"instances": len(corpus), "rows": 512, "columns": 512},
        "results": results,
    }
    RESULTS.write_text(json.dumps(document, indent=2) + "\n")
    print_table(results)
    print(f"\nwrote {RESULTS.relative_to(ROOT)}")
    failed = [r for r in results if r.get("passed") is False]
    return 1 if failed else 0


def print_table(results: list[dict[str, Any]]) -> None:
    # The measure column is as wide as the longest name, so columns line up.
    width = max([len("measure"), *(len(r["name"]) for r in results)])
    header = (
        f"{'case':<10} {'measure':<{width}} {'value':>16} {'baseline':>16} "
        f"{'ratio':>7} {'budget':>7}  ok"
    )
    print("\n" + header)
    print("-" * len(header))
    for r in results:
        budget = r.get("budget")
        passed = r.get("passed")
        value = f"{r['value']:.1f} {r['unit']}"
        baseline = f"{r['baseline_value']:.1f} {r['unit']}"
        limit = f">={budget:.1f}" if budget is not None else "-"
        verdict = "-" if passed is None else ("yes" if passed else "NO")
        print(
            f"{r['case']:<10} {r['name']:<{width}} {value:>16} {baseline:>16} "
            f"{r['ratio']:>6.2f}x {limit:>7}  {verdict}"
        )
        print(f"{'':<10}   vs {r['baseline_name']}")
        if "ratio_range" in r:
            low, high = r["ratio_range"]
            print(
                f"{'':<10}   median of {len(r['rounds'])} rounds; "
                f"ratio per round {low:.2f}x to {high:.2f}x"
            )
        if "cpu_ratio" in r:
            print(
                f"{'':<10}   CPU per file (all processes), baseline / ours: "
                f"{r['cpu_ratio']:.2f}x"
            )


if __name__ == "__main__":
    sys.exit(main())
