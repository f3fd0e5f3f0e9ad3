"""Generate a synthetic register extract: chunks of persons in parallel, then the catalog.

``generate_registers`` is the library entry point (the service calls it on first run); the CLI
command and the benchmark wrap it. Same persons, seed and years give byte-identical tables,
whatever the number of worker processes.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import shutil
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from multiprocessing import get_context
from pathlib import Path

from synthetic_registers.catalog import CATALOG_FILE, Catalog
from synthetic_registers.chunk import generate_chunk
from synthetic_registers.demography_parameters import NATIONAL_POPULATION, REFERENCE_YEAR
from synthetic_registers.population import ChunkPlan
from synthetic_registers.schema import TABLES

# Changes whenever the same persons and seed give other registers (new tables, new codes): an
# extract made by another version is generated again by ``statservice run``. 1.1.0: procedures,
# laboratory results, the full ATC index, the heart failure registry. 1.2.0: the heart failure
# registry holds incident patients with reduced ejection fraction only, its indicators as published;
# the adult diabetes registry.
GENERATOR_VERSION = "1.2.0"
CHUNK_PERSONS = 50_000
FIRST_YEAR, LAST_YEAR = 1995, 2030

Progress = Callable[[int, int], None]  # (chunks done, chunks in all)


def data_version(
    persons: int, seed: int, start_year: int, end_year: int, chunk_persons: int = CHUNK_PERSONS
) -> str:
    """Stable identifier of an extract: a hash of everything that determines its content."""
    key = json.dumps(
        {
            "persons": persons,
            "seed": seed,
            "start_year": start_year,
            "end_year": end_year,
            "generator": GENERATOR_VERSION,
            "chunk_persons": chunk_persons,
        },
        sort_keys=True,
    )
    return hashlib.sha256(key.encode()).hexdigest()[:16]


def plan_chunks(
    persons: int, start_year: int, end_year: int, chunk_persons: int = CHUNK_PERSONS
) -> list[ChunkPlan]:
    bounds = [*range(0, persons, chunk_persons), persons]
    return [
        ChunkPlan(i, persons, lo, hi, start_year, end_year)
        for i, (lo, hi) in enumerate(itertools.pairwise(bounds))
    ]


def _check(persons: int, seed: int, start_year: int, end_year: int) -> None:
    if persons < 1000:
        raise ValueError("persons must be at least 1000")
    if not 0 <= seed < 2**32:
        raise ValueError("seed must be between 0 and 2**32 - 1")
    if not FIRST_YEAR <= start_year <= REFERENCE_YEAR:
        raise ValueError(f"start_year must be between {FIRST_YEAR} and {REFERENCE_YEAR}")
    if not start_year <= end_year <= LAST_YEAR:
        raise ValueError(f"end_year must be between start_year and {LAST_YEAR}")


def _run_chunk(plan: ChunkPlan, seed: int, out_dir: str) -> dict[str, int]:
    return generate_chunk(plan, seed, Path(out_dir))


def generate_registers(
    out_dir: str | Path,
    persons: int,
    seed: int,
    start_year: int = 2005,
    end_year: int = 2024,
    progress: Progress | None = None,
    workers: int | None = None,
    chunk_persons: int = CHUNK_PERSONS,
) -> Catalog:
    """Write every register table as Parquet parts under ``out_dir`` plus ``catalog.json``.

    ``persons`` is the size of the population resident on 1 January 2024 (the calibration date);
    everyone born, arriving, dying or leaving during the years is generated around it, so the
    person table holds somewhat more rows. Existing tables in ``out_dir`` are replaced. Each
    chunk of ``chunk_persons`` is seeded from (seed, chunk index), so the chunk size is part of
    what the data depends on; the number of worker processes is not.
    """
    _check(persons, seed, start_year, end_year)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for table in TABLES:
        shutil.rmtree(out / table.name, ignore_errors=True)
    (out / CATALOG_FILE).unlink(missing_ok=True)
    if chunk_persons < 1000:
        raise ValueError("chunk_persons must be at least 1000")
    plans = plan_chunks(persons, start_year, end_year, chunk_persons)
    workers = min(workers or os.cpu_count() or 1, len(plans))
    rows: dict[str, int] = {}
    done = 0
    if progress:
        progress(0, len(plans))
    if workers <= 1:
        results = (generate_chunk(plan, seed, out) for plan in plans)
        for counts in results:
            rows = {k: rows.get(k, 0) + v for k, v in counts.items()}
            done += 1
            if progress:
                progress(done, len(plans))
    else:
        with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as pool:
            futures = [pool.submit(_run_chunk, plan, seed, str(out)) for plan in plans]
            for future in as_completed(futures):
                counts = future.result()
                rows = {k: rows.get(k, 0) + v for k, v in counts.items()}
                done += 1
                if progress:
                    progress(done, len(plans))
    metadata = {
        "data_version": data_version(persons, seed, start_year, end_year, chunk_persons),
        "generator_version": GENERATOR_VERSION,
        "persons": persons,
        "seed": seed,
        "start_year": start_year,
        "end_year": end_year,
        "reference_date": f"{REFERENCE_YEAR}-01-01",
        "sampling_fraction": persons / NATIONAL_POPULATION,
        "chunks": len(plans),
        "chunk_persons": chunk_persons,
        "layout": "one directory per table holding Parquet parts part-NNNNN.parquet",
    }
    catalog = Catalog.build(metadata, rows)
    catalog.write(out)
    return catalog
