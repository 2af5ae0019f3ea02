"""``medlake validate PATH...``: the ingest checks, offline, one verdict per file."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from cli.config import LOCAL_SETTINGS, load_settings
from cli.files import iter_files
from lib.validation import Policy, Verdict, validate


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "validate",
        help="check DICOM files as ingest would; exit 1 if any is rejected",
        description="Run the validation catalogue and policy on local files. "
        "Prints one line per file: VERDICT CODE path, then findings.",
    )
    parser.add_argument("paths", nargs="+", metavar="PATH")
    parser.add_argument(
        "--quiet", action="store_true", help="print rejected files only"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    settings = load_settings(LOCAL_SETTINGS)
    policy = Policy.from_setting(settings.validation_policy)
    files = list(iter_files(args.paths))
    if not files:
        print("nothing to validate: no files under the given paths", file=sys.stderr)
        return 1

    rejected = 0
    for path in files:
        with path.open("rb") as stream:
            size = path.stat().st_size
            report = validate(
                stream, size=size, max_upload_bytes=settings.max_upload_bytes
            )
        decision = policy.decide(report)
        if decision.verdict is Verdict.REJECT:
            rejected += 1
            code = decision.primary.code if decision.primary else "REJECTED"
            print(f"REJECT  {code:<30} {path}")
        elif not args.quiet:
            code = decision.warnings[0].code if decision.warnings else "OK"
            print(f"ACCEPT  {code:<30} {path}")
        for finding in (*decision.rejecting, *decision.warnings):
            if not args.quiet or decision.verdict is Verdict.REJECT:
                keyword = f" [{finding.keyword}]" if finding.keyword else ""
                print(f"        {finding.code}{keyword}: {finding.message}")
    print(f"{len(files) - rejected} accepted, {rejected} rejected", file=sys.stderr)
    return 1 if rejected else 0
