"""Shared fixtures. Each owner keeps their fixtures in one clearly named block."""

from __future__ import annotations

from pathlib import Path

import pytest

# --- synthetic registers (owner: synthetic_registers) ------------------------------------------
SMALL_REGISTERS_PERSONS = 20_000
SMALL_REGISTERS_SEED = 7


@pytest.fixture(scope="session")
def small_registers(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Directory of a generated 20,000-person extract (seed 7, 2005-2024) with catalog.json.

    Tables are directories of Parquet parts: ``<dir>/<table>/part-*.parquet``. Read-only: copy it
    if a test needs to change files.
    """
    from synthetic_registers.generate import generate_registers

    out = tmp_path_factory.mktemp("small_registers")
    generate_registers(out, SMALL_REGISTERS_PERSONS, SMALL_REGISTERS_SEED, workers=1)
    return out


# --- end of synthetic registers ------------------------------------------------------------------


# --- disclosure timing (owner: disclosure) --------------------------------------------------------


@pytest.fixture(autouse=True)
def audit_with_time_to_finish(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests check what the audit across releases decides; how long it may take is
    tests/disclosure/test_deadline.py's subject (it sets the deadline itself). On a loaded machine the
    audit's child process alone can take longer than the policy's 1.5 s to start, and a release would
    get the degraded noise instead of the verdict a test asserts. Servers started as subprocesses keep
    the policy's deadline."""
    from disclosure import pipeline

    monkeypatch.setattr(pipeline, "ATOM_AUDIT_SECONDS", 60.0)


# --- end of disclosure timing ----------------------------------------------------------------------
