"""``medlake samples OUT``: write the demo's sample studies and broken files."""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path
from typing import Any

from lib.samples import SyntheticPatient, ct_series
from lib.samples.broken import BROKEN

# pydicom ships these with its wheel; other test files would be downloaded.
BUNDLED = ("CT_small.dcm", "MR_small.dcm", "JPEG2000.dcm", "MR_small_RLE.dcm")


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "samples",
        help="write sample studies (synthetic identifiers) and broken files",
        description="Write generated CT series with synthetic identifiers, "
        "pydicom's bundled example files and deliberately broken files, "
        "each named for its defect.",
    )
    parser.add_argument("out", type=Path, metavar="OUT")
    parser.add_argument("--patients", type=int, default=2)
    parser.add_argument("--slices", type=int, default=12, help="per series")
    parser.add_argument("--size", type=int, default=256, help="rows and columns")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    out: Path = args.out
    count = 0
    for number in range(1, args.patients + 1):
        patient = SyntheticPatient(number)
        for series in (1, 2):
            folder = out / "studies" / f"patient{number:02d}" / f"series{series}"
            folder.mkdir(parents=True, exist_ok=True)
            for index, data in enumerate(
                ct_series(
                    patient, 1, series, args.slices, rows=args.size, columns=args.size
                ),
                start=1,
            ):
                (folder / f"{index:04d}.dcm").write_bytes(data)
                count += 1

    from pydicom.data import get_testdata_file

    bundled = out / "pydicom"
    bundled.mkdir(parents=True, exist_ok=True)
    for name in BUNDLED:
        source = get_testdata_file(name, download=False)
        if source is not None:
            shutil.copyfile(source, bundled / name)
            count += 1

    broken = out / "broken"
    broken.mkdir(parents=True, exist_ok=True)
    for name, make in BROKEN.items():
        (broken / f"{name}.dcm").write_bytes(make())
    print(
        f"wrote {count} valid and {len(BROKEN)} broken files under {out}",
        file=sys.stderr,
    )
    return 0
