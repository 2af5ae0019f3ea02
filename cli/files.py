"""Walking the paths given on the command line."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path


def iter_files(paths: Iterable[str | Path]) -> Iterator[Path]:
    """Every regular file under ``paths`` (files as given, folders recursively).

    Hidden files and folders (``.DS_Store``, ``.git``) are skipped; sorted so runs
    are repeatable.
    """
    for raw in paths:
        path = Path(raw)
        if path.is_file():
            yield path
        elif path.is_dir():
            for child in sorted(path.rglob("*")):
                relative = child.relative_to(path)
                if child.is_file() and not any(
                    part.startswith(".") for part in relative.parts
                ):
                    yield child
        else:
            raise FileNotFoundError(f"no such file or folder: {path}")
