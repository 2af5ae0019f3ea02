"""Named fault points, for proving that retries lose nothing.

Dev mode only (``MEDLAKE_FAULTS`` is refused otherwise, see ``lib.settings``). A
spec such as ``after_archive:2`` makes the pipeline fail at that point the first
two times for each upload; ``after_archive:always`` fails every time. The count is
kept as files in ``MEDLAKE_FAULT_STATE_DIR`` so that it holds across the worker
processes that retries may land on.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

from lib.errors import ConfigurationError, TransientError

FAULT_POINTS = ("after_validate", "after_archive", "before_delete")
ALWAYS = -1
_SPEC = re.compile(r"(?P<point>[a-z_]+):(?P<count>\d+|always)")


class InjectedFault(TransientError):
    """Raised at an armed fault point."""


class FaultInjector:
    """Raises :class:`InjectedFault` at armed points; inert when ``spec`` is empty."""

    def __init__(self, spec: str = "", state_dir: str = "") -> None:
        self._armed: dict[str, int] = {}
        for part in filter(None, (p.strip() for p in spec.split(","))):
            match = _SPEC.fullmatch(part)
            if not match or match["point"] not in FAULT_POINTS:
                raise ConfigurationError(
                    "MEDLAKE_FAULTS entries must be POINT:COUNT or POINT:always "
                    f"with POINT one of {', '.join(FAULT_POINTS)}"
                )
            count = match["count"]
            self._armed[match["point"]] = ALWAYS if count == "always" else int(count)
        self._state_dir = Path(state_dir or tempfile.gettempdir()) / "medlake-faults"

    def check(self, point: str, key: str) -> None:
        """Fail at ``point`` for ``key`` if the point is armed and not yet spent."""
        count = self._armed.get(point)
        if count is None:
            return
        if count == ALWAYS:
            raise InjectedFault(f"injected fault at {point}")
        self._state_dir.mkdir(parents=True, exist_ok=True)
        for attempt in range(count):
            marker = self._state_dir / f"{point}-{key}-{attempt}"
            try:
                # O_EXCL makes the claim atomic across worker processes.
                os.close(os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
            except FileExistsError:
                continue
            raise InjectedFault(f"injected fault at {point} ({attempt + 1}/{count})")
