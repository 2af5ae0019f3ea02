"""``medlake deid IN OUT``: de-identify a folder tree offline with the lake's engine.

Output mirrors the ``deid`` container: ``OUT/studies/{study}/series/{series}/
instances/{sop}.dcm`` with the new UIDs, so a rerun over the same input writes
the same files. Files that cannot be de-identified are listed with their code on
stderr and not written; the exit status is 1 when there were any.
"""

from __future__ import annotations

import argparse
import itertools
import os
import sys
import time
from collections import Counter, deque
from collections.abc import Iterator, Mapping
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, cast

from cli.config import LOCAL_SETTINGS, load_env
from cli.files import iter_files
from lib.deid import (
    DEFAULT_PROFILE,
    PROFILE_NAMES,
    Deidentifier,
    DeidError,
    DeidKey,
    DeidResult,
    load_deid_key,
    load_profile,
)
from lib.deid.keys import parse_key_text
from lib.errors import ConfigurationError

__all__ = [
    "Outcome",
    "deidentify_file",
    "deidentify_files",
    "output_path",
    "register",
    "run",
]

WRITTEN = "written"
FAILED = "failed"
# Files per task sent to a worker process: amortises inter-process overhead.
CHUNK_SIZE = 32
# Threads for file reads and writes, and how many files each may hold.
IO_THREADS = 2
IO_LOOKAHEAD = 4


def register(subparsers: Any) -> None:
    """Add the ``deid`` subcommand to the ``medlake`` parser."""
    parser = subparsers.add_parser(
        "deid",
        help="de-identify a folder of DICOM files into a lake-shaped tree",
        description="De-identify every file under IN with the same engine as the "
        "pipeline and write OUT/studies/{study}/series/{series}/instances/"
        "{sop}.dcm. The key comes from --key-file or MEDLAKE_DEID_KEY "
        "(local.settings.json or the environment).",
    )
    parser.add_argument("input", metavar="IN", type=Path, help="file or folder")
    parser.add_argument("output", metavar="OUT", type=Path, help="output folder")
    parser.add_argument(
        "--profile",
        choices=PROFILE_NAMES,
        default=None,
        help=f"profile (default: MEDLAKE_DEID_PROFILE or {DEFAULT_PROFILE})",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=os.cpu_count() or 1,
        help="worker processes (default: the number of CPUs)",
    )
    parser.add_argument(
        "--key-file",
        type=Path,
        help="file holding the key as hex or base64 text (at least 32 bytes)",
    )
    parser.add_argument(
        "--key-version",
        default=None,
        help="version recorded with --key-file (default: MEDLAKE_DEID_KEY_VERSION "
        "or 'local')",
    )
    parser.add_argument(
        "--no-progress", action="store_true", help="no progress bar on stderr"
    )
    parser.set_defaults(func=run)


@dataclass(frozen=True)
class Outcome:
    """What happened to one input file."""

    path: str
    outcome: str
    code: str
    bytes_in: int
    bytes_out: int


def output_path(root: Path, study: str, series: str, sop: str) -> Path:
    """The storage-contract layout of the ``deid`` container under ``root``."""
    return root / "studies" / study / "series" / series / "instances" / f"{sop}.dcm"


def _create(target: Path) -> BinaryIO:
    """Open ``target`` for writing, creating its folders the first time."""
    try:
        return open(target, "wb", buffering=0)
    except FileNotFoundError:
        # One mkdir per series rather than a stat per file.
        target.parent.mkdir(parents=True, exist_ok=True)
        return open(target, "wb", buffering=0)


def _read(path: Path) -> bytes | OSError:
    try:
        return path.read_bytes()
    except OSError as exc:
        return exc


def _write(path: Path, result: DeidResult, out_root: Path, size: int) -> Outcome:
    target = output_path(
        out_root,
        result.study_instance_uid,
        result.series_instance_uid,
        result.sop_instance_uid,
    )
    # Written in place rather than renamed from a temporary file: a rename costs
    # as much as the write itself. Any failure or interrupt removes the partial
    # file; only a killed process can leave one, which a rerun overwrites (names
    # are deterministic).
    try:
        with _create(target) as stream:
            result.write_to(stream)
    except OSError as exc:
        target.unlink(missing_ok=True)
        return Outcome(
            str(path), FAILED, f"WRITE_{type(exc).__name__.upper()}", size, 0
        )
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    bytes_out = cast(int, result.summary()["bytes_out"])
    return Outcome(str(path), WRITTEN, "", size, bytes_out)


def _deidentify_one(
    deid: Deidentifier, path: Path, data: bytes | OSError
) -> DeidResult | Outcome:
    if isinstance(data, OSError):
        return Outcome(str(path), FAILED, f"READ_{type(data).__name__.upper()}", 0, 0)
    try:
        return deid.deidentify(data)
    except DeidError as exc:
        return Outcome(str(path), FAILED, exc.code, len(data), 0)


def deidentify_file(deid: Deidentifier, path: Path, out_root: Path) -> Outcome:
    """De-identify ``path`` and write it under ``out_root`` (no threads)."""
    data = _read(path)
    result = _deidentify_one(deid, path, data)
    if isinstance(result, Outcome):
        return result
    assert isinstance(data, bytes)
    return _write(path, result, out_root, len(data))


def deidentify_files(
    deid: Deidentifier, paths: list[Path], out_root: Path
) -> Iterator[Outcome]:
    """De-identify ``paths`` in order, overlapping file I/O with the engine.

    Reads run ahead and writes trail behind in I/O threads (they release the
    GIL), so one process keeps its core busy with de-identification; at most
    ``IO_LOOKAHEAD`` files are in flight either way, so memory stays flat.
    """
    with ThreadPoolExecutor(max_workers=IO_THREADS) as pool:
        reads: deque[Future[bytes | OSError]] = deque()
        writes: deque[Future[Outcome]] = deque()
        upcoming = iter(paths)
        for path in itertools.islice(upcoming, IO_LOOKAHEAD):
            reads.append(pool.submit(_read, path))
        for path in paths:
            data = reads.popleft().result()
            following = next(upcoming, None)
            if following is not None:
                reads.append(pool.submit(_read, following))
            result = _deidentify_one(deid, path, data)
            if isinstance(result, Outcome):
                yield result
            else:
                assert isinstance(data, bytes)
                writes.append(pool.submit(_write, path, result, out_root, len(data)))
            while writes and (len(writes) > IO_LOOKAHEAD or writes[0].done()):
                yield writes.popleft().result()
        while writes:
            yield writes.popleft().result()


# Worker processes build their engine once (the key is passed, not re-read).
_worker_deid: Deidentifier | None = None
_worker_out: Path | None = None


def _init_worker(profile_name: str, secret: bytes, version: str, out: str) -> None:
    global _worker_deid, _worker_out
    _worker_deid = Deidentifier(load_profile(profile_name), DeidKey(secret, version))
    _worker_out = Path(out)


def _work(paths: list[str]) -> list[Outcome]:
    assert _worker_deid is not None and _worker_out is not None
    return list(deidentify_files(_worker_deid, [Path(p) for p in paths], _worker_out))


def _chunks(paths: list[Path], size: int) -> Iterator[list[str]]:
    for start in range(0, len(paths), size):
        yield [str(p) for p in paths[start : start + size]]


def _read_key(args: argparse.Namespace, env: Mapping[str, str]) -> DeidKey:
    if args.key_file is None:
        return load_deid_key(env)
    try:
        text = args.key_file.read_text()
    except OSError as exc:
        raise ConfigurationError(
            f"cannot read --key-file {args.key_file}: {exc.strerror}"
        ) from exc
    version = (
        args.key_version or env.get("MEDLAKE_DEID_KEY_VERSION", "").strip() or "local"
    )
    return DeidKey(parse_key_text(text, "--key-file"), version)


def _input_files(source: Path, out: Path) -> list[Path]:
    """Files under ``source``, without earlier output when OUT lies inside IN."""
    files = list(iter_files([source]))
    out_resolved = out.resolve()
    if not out_resolved.is_relative_to(source.resolve()):
        return files
    return [path for path in files if not path.resolve().is_relative_to(out_resolved)]


def run(args: argparse.Namespace) -> int:
    """Run ``medlake deid``; returns the exit status."""
    env = load_env(LOCAL_SETTINGS)
    try:
        key = _read_key(args, env)
    except (ConfigurationError, ValueError) as exc:
        print(
            f"medlake deid: refusing to run without a valid key: {exc}\n"
            "  give --key-file PATH, or set MEDLAKE_DEID_KEY (hex or base64, "
            ">= 32 bytes) in the environment or local.settings.json",
            file=sys.stderr,
        )
        return 2
    profile_name = args.profile or env.get("MEDLAKE_DEID_PROFILE") or DEFAULT_PROFILE
    try:
        deid = Deidentifier(load_profile(profile_name), key)
    except ValueError as exc:
        print(f"medlake deid: {exc}", file=sys.stderr)
        return 2
    if not args.input.exists():
        print(f"medlake deid: no such file or folder: {args.input}", file=sys.stderr)
        return 2
    files = _input_files(args.input, args.output)
    if not files:
        print(f"medlake deid: no files under {args.input}", file=sys.stderr)
        return 1
    args.output.mkdir(parents=True, exist_ok=True)

    started = time.monotonic()
    outcomes = _run_all(deid, files, args, key, profile_name)
    elapsed = time.monotonic() - started
    _print_summary(outcomes, elapsed, profile_name, key.version)
    return 1 if any(o.outcome == FAILED for o in outcomes) else 0


def _run_all(
    deid: Deidentifier,
    files: list[Path],
    args: argparse.Namespace,
    key: DeidKey,
    profile_name: str,
) -> list[Outcome]:
    from tqdm import tqdm

    progress = tqdm(
        total=len(files),
        unit="file",
        file=sys.stderr,
        disable=args.no_progress,
        desc="deid",
    )
    outcomes: list[Outcome] = []
    workers = max(1, min(args.workers, len(files) // CHUNK_SIZE or 1))
    try:
        if workers == 1:
            for outcome in deidentify_files(deid, files, args.output):
                outcomes.append(outcome)
                progress.update()
        else:
            with ProcessPoolExecutor(
                max_workers=workers,
                initializer=_init_worker,
                initargs=(profile_name, key.secret, key.version, str(args.output)),
            ) as pool:
                for batch in pool.map(_work, _chunks(files, CHUNK_SIZE)):
                    outcomes.extend(batch)
                    progress.update(len(batch))
    finally:
        progress.close()
    return outcomes


def _print_summary(
    outcomes: list[Outcome], elapsed: float, profile_name: str, key_version: str
) -> None:
    failed = [o for o in outcomes if o.outcome == FAILED]
    for outcome in failed:
        print(f"FAILED  {outcome.code:<34} {outcome.path}", file=sys.stderr)
    by_outcome = Counter(o.outcome for o in outcomes)
    by_code = Counter(o.code for o in failed)
    megabytes = sum(o.bytes_in for o in outcomes) / 1e6
    rate = megabytes / elapsed if elapsed > 0 else 0.0
    print(
        f"profile {profile_name}, key version {key_version}: "
        f"{by_outcome[WRITTEN]} written, {by_outcome[FAILED]} failed "
        f"in {elapsed:.1f} s ({megabytes:.1f} MB, {rate:.1f} MB/s)",
        file=sys.stderr,
    )
    for code, count in sorted(by_code.items()):
        print(f"  {code}: {count}", file=sys.stderr)
