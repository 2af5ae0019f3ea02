"""Settings of the analytics lake (``MEDLAKE_LAKE_*``), parsed once.

They sit beside the lake code rather than in :mod:`lib.settings` because only the
commit and maintenance timers read them; storage access comes from the shared
:class:`lib.settings.Settings`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from lib.errors import ConfigurationError
from lib.settings import read_bool, read_int

__all__ = ["LakeSettings"]

VACUUM_RETENTION_SETTING = "MEDLAKE_LAKE_VACUUM_RETENTION_HOURS"
COMMIT_MAX_ROWS_SETTING = "MEDLAKE_LAKE_COMMIT_MAX_ROWS"
LOCK_SETTING = "MEDLAKE_LAKE_COMMIT_LOCK"

DEFAULT_VACUUM_RETENTION_HOURS = 168
DEFAULT_COMMIT_MAX_ROWS = 50_000
# Vacuum below an hour would delete files that a reader which planned its scan a
# moment ago is still about to open.
MIN_VACUUM_RETENTION_HOURS = 1


@dataclass(frozen=True)
class LakeSettings:
    """How the lake commits and maintains its tables.

    Parameters
    ----------
    vacuum_retention_hours : int
        Files a table no longer references are deleted by the daily maintenance
        once they are this old (``MEDLAKE_LAKE_VACUUM_RETENTION_HOURS``, 168).
        Readers and time travel older than this may fail.
    commit_max_rows : int
        Staged rows one commit run takes at most (``MEDLAKE_LAKE_COMMIT_MAX_ROWS``,
        50000); the rest wait for the next run.
    use_lock : bool
        Whether a commit run takes the commit lease (``MEDLAKE_LAKE_COMMIT_LOCK``,
        true). Switching it off is for tests of the optimistic-concurrency path.
    """

    vacuum_retention_hours: int = DEFAULT_VACUUM_RETENTION_HOURS
    commit_max_rows: int = DEFAULT_COMMIT_MAX_ROWS
    use_lock: bool = True

    def __post_init__(self) -> None:
        if self.vacuum_retention_hours < MIN_VACUUM_RETENTION_HOURS:
            raise ConfigurationError(
                f"setting {VACUUM_RETENTION_SETTING} must be at least "
                f"{MIN_VACUUM_RETENTION_HOURS}"
            )
        if self.commit_max_rows < 1:
            raise ConfigurationError(f"setting {COMMIT_MAX_ROWS_SETTING} must be >= 1")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> LakeSettings:
        """Read the lake settings from ``env`` (the process environment)."""
        env = os.environ if env is None else env
        return cls(
            vacuum_retention_hours=read_int(
                env,
                VACUUM_RETENTION_SETTING,
                DEFAULT_VACUUM_RETENTION_HOURS,
                MIN_VACUUM_RETENTION_HOURS,
            ),
            commit_max_rows=read_int(
                env, COMMIT_MAX_ROWS_SETTING, DEFAULT_COMMIT_MAX_ROWS, 1
            ),
            use_lock=read_bool({LOCK_SETTING: "true", **env}, LOCK_SETTING),
        )
