"""Benchmark cases: each module's ``run(corpus, workdir)`` returns result records.

:func:`result` builds the record ``bench/run.py`` prints and writes to
``bench/results.json``.
"""

from __future__ import annotations

from typing import Any


def result(
    case: str,
    name: str,
    *,
    value: float,
    unit: str,
    baseline_name: str,
    baseline_value: float,
    ratio: float | None = None,
    budget: float | None = None,
    passed: bool | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """One measured figure beside its baseline.

    ``ratio`` defaults to ``value / baseline_value`` (higher is better); pass it
    when lower is better. ``passed`` defaults to ``ratio >= budget`` when there
    is a budget; a case whose budget is not a ratio passes its own verdict.
    ``extra`` keys are added to the record as they are.
    """
    if ratio is None:
        ratio = value / baseline_value if baseline_value else 0.0
    if passed is None and budget is not None:
        passed = ratio >= budget
    return {
        "case": case,
        "name": name,
        "value": value,
        "unit": unit,
        "baseline_name": baseline_name,
        "baseline_value": baseline_value,
        "ratio": ratio,
        "budget": budget,
        "passed": passed,
        **extra,
    }
