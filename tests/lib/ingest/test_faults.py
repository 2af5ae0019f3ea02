from __future__ import annotations

from pathlib import Path

import pytest

from lib.errors import ConfigurationError
from lib.ingest import FaultInjector, InjectedFault


def test_inert_without_a_spec(tmp_path: Path) -> None:
    FaultInjector("", str(tmp_path)).check("after_archive", "k")


def test_fails_the_first_n_times_per_key(tmp_path: Path) -> None:
    faults = FaultInjector("after_archive:2", str(tmp_path))

    for _ in range(2):
        with pytest.raises(InjectedFault, match="after_archive"):
            faults.check("after_archive", "k1")
    faults.check("after_archive", "k1")
    with pytest.raises(InjectedFault):
        faults.check("after_archive", "k2")


def test_count_is_shared_between_injectors(tmp_path: Path) -> None:
    first = FaultInjector("after_archive:1", str(tmp_path))
    second = FaultInjector("after_archive:1", str(tmp_path))

    with pytest.raises(InjectedFault):
        first.check("after_archive", "k")
    second.check("after_archive", "k")


def test_always_never_runs_out(tmp_path: Path) -> None:
    faults = FaultInjector("before_delete:always", str(tmp_path))

    for _ in range(5):
        with pytest.raises(InjectedFault):
            faults.check("before_delete", "k")


@pytest.mark.parametrize("spec", ["after_archive", "nowhere:1", "after_archive:-1"])
def test_bad_spec_names_the_setting(spec: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="MEDLAKE_FAULTS"):
        FaultInjector(spec, str(tmp_path))
