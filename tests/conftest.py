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
