"""``medlake report``: the lake's key measures, printed and as a small HTML page.

The figures are those of the Power BI model (see docs/powerbi.md), computed by
:func:`lib.lake.summary.analytics_summary` from the Delta tables. The HTML page is
self-contained: inline SVG charts, no scripts, no network.
"""

from __future__ import annotations

import argparse
import html
from pathlib import Path
from typing import Any

from cli.config import LOCAL_SETTINGS, load_env
from lib.lake import LakeCommitter, LakeLocation, LakeSettings
from lib.lake.summary import AnalyticsSummary, analytics_summary
from lib.settings import Settings
from lib.storage import blob_service_client

DEFAULT_OUT = Path("medlake-report.html")
BAR_WIDTH = 420


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "report",
        help="print the lake's key measures and write an HTML summary",
        description="Read the Delta tables in the lake container and print studies "
        "per day, rejection rate by code, finding rate by model and modality and "
        "processing latency; write the same as a self-contained HTML page.",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=DEFAULT_OUT,
        metavar="FILE.html",
        help=f"where to write the HTML summary (default: {DEFAULT_OUT})",
    )
    parser.add_argument(
        "--commit",
        action="store_true",
        help="commit staged rows first (otherwise the commit timer does, each minute)",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    env = load_env(LOCAL_SETTINGS)
    settings = Settings.from_env(env)
    location = LakeLocation(settings)
    if args.commit:
        LakeCommitter(
            blob_service_client(settings), location, LakeSettings.from_env(env)
        ).commit()
    summary = analytics_summary(location)
    print(text_report(summary))
    args.out.write_text(html_report(summary), encoding="utf-8")
    print(f"\nwrote {args.out}")
    return 0


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f} ms"


def text_report(summary: AnalyticsSummary) -> str:
    """The measures as aligned text lines."""
    counts = summary.counts
    lines = [
        "Medlake lake summary",
        "  " + "  ".join(f"{name} {count}" for name, count in counts.items()),
        f"  processing latency  p50 {_ms(summary.latency_p50_ms)}"
        f"  p95 {_ms(summary.latency_p95_ms)}",
        f"  freshness (upload to visible)  p50 {_ms(summary.freshness_p50_ms)}"
        f"  p95 {_ms(summary.freshness_p95_ms)}",
        f"  rejection rate  {_percent(summary.rejection_rate)}",
    ]
    lines += [
        f"    {code:<32} {_percent(rate)}"
        for code, rate in summary.rejection_rate_by_code.items()
    ]
    average = summary.studies_per_day_average
    lines.append(
        "  studies per day  average " + ("-" if average is None else f"{average:.1f}")
    )
    lines += [f"    {d['date']}  {d['studies']}" for d in summary.studies_per_day[-14:]]
    lines.append("  finding rate by model and modality")
    lines += [
        f"    {r['model']:<20} {r['modality'] or '-':<8} {_percent(r['rate'])}"
        for r in summary.finding_rate_by_model_modality
    ] or ["    (no findings yet)"]
    return "\n".join(lines)


def _bars(items: list[tuple[str, float]], label: str, fmt: str) -> str:
    """A horizontal bar chart as inline SVG."""
    if not items:
        return f"<p class='empty'>No {html.escape(label)} yet.</p>"
    top = max(value for _, value in items) or 1.0
    height = 22 * len(items) + 8
    rows = []
    for index, (name, value) in enumerate(items):
        y = 4 + 22 * index
        width = max(1.0, BAR_WIDTH * value / top)
        rows.append(
            f"<text x='0' y='{y + 14}'>{html.escape(name)}</text>"
            f"<rect x='200' y='{y}' width='{width:.1f}' height='16' rx='2'/>"
            f"<text x='{206 + width:.1f}' y='{y + 14}'>{format(value, fmt)}</text>"
        )
    return (
        f"<svg role='img' aria-label='{html.escape(label)}' width='720' "
        f"height='{height}' xmlns='http://www.w3.org/2000/svg'>{''.join(rows)}</svg>"
    )


def html_report(summary: AnalyticsSummary) -> str:
    """The summary as one self-contained HTML page."""
    counts = "".join(
        f"<div class='tile'><b>{count:,}</b><span>{html.escape(name)}</span></div>"
        for name, count in summary.counts.items()
    )
    latency = (
        f"<div class='tile'><b>{_ms(summary.latency_p50_ms)}</b><span>latency p50"
        f"</span></div><div class='tile'><b>{_ms(summary.latency_p95_ms)}</b>"
        f"<span>latency p95</span></div><div class='tile'><b>"
        f"{_ms(summary.freshness_p95_ms)}</b><span>freshness p95</span></div>"
    )
    per_day = _bars(
        [(d["date"], float(d["studies"])) for d in summary.studies_per_day[-31:]],
        "studies per day",
        ".0f",
    )
    rejections = _bars(
        list(summary.rejection_rate_by_code.items()), "rejections", ".1%"
    )
    findings = _bars(
        [
            (f"{r['model']} / {r['modality'] or '-'}", r["rate"] or 0.0)
            for r in summary.finding_rate_by_model_modality
        ],
        "findings",
        ".1%",
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>Medlake lake summary</title>
<style>
body {{ font: 14px system-ui, sans-serif; margin: 2em; color: #1b1f24; }}
.tiles {{ display: flex; flex-wrap: wrap; gap: 12px; }}
.tile {{ border: 1px solid #d0d7de; border-radius: 6px; padding: 10px 16px; }}
.tile b {{ display: block; font-size: 20px; }}
.tile span {{ color: #57606a; }}
svg text {{ font: 12px system-ui, sans-serif; fill: #1b1f24; }}
svg rect {{ fill: #0969da; }}
.empty {{ color: #57606a; }}
</style></head><body>
<h1>Medlake lake summary</h1>
<p>Generated {html.escape(summary.generated_time)} from the Delta tables in
<code>lake/tables/</code>. Aggregates only.</p>
<div class="tiles">{counts}{latency}</div>
<h2>Studies per day</h2>{per_day}
<h2>Rejection rate by code</h2>
<p>Overall {_percent(summary.rejection_rate)} of uploads.</p>{rejections}
<h2>Finding rate by model and modality</h2>{findings}
</body></html>
"""
