"""Where the generator's time goes: one national-scale chunk under cProfile, by register.

    python -m benchmarks.generate_profile --persons 6000000 --chunks 2

Generates ``--chunks`` chunks of the national plan (in one process, into a temporary directory,
after one warm-up chunk so imports and cached code books are not counted) and prints the CPU
seconds per chunk of each register's building step, of writing Parquet (per table) and of the
rest. ``benchmarks.generate`` times the whole run; this says which register to make faster.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from synthetic_registers.chunk import generate_chunk
from synthetic_registers.generate import plan_chunks

# (module file name, function) -> what it builds, with its cumulative time: the rows overlap where
# a step writes its own tables (procedures, laboratory, heart failure registry), which the writing
# row counts too, so the shares do not add up to the whole
STEPS: dict[tuple[str, str], str] = {
    ("chunk.py", "build_people"): "population, conditions, deaths (persons)",
    ("hospital.py", "build_hospital_records"): "hospital contacts and diagnoses (LPR2, LPR3)",
    ("chunk.py", "_procedure_columns"): "procedures (incl. writing)",
    ("chunk.py", "_heart_failure_columns"): "heart failure registry (incl. writing)",
    ("chunk.py", "_laboratory_columns"): "laboratory results (incl. writing)",
    ("prescriptions.py", "build_dispensings"): "prescriptions (lmdb)",
    ("cancer_register.py", "build_cancer_records"): "cancer register",
    ("deaths.py", "build_death_records"): "causes of death",
    ("socioeconomic.py", "build_education"): "education",
    ("socioeconomic.py", "build_income"): "income",
    ("biobank.py", "build_samples"): "biobank",
    ("pseudonyms.py", "person_keys"): "pseudonyms",
    ("writer.py", "write_part"): "writing Parquet (all tables)",
    ("writer.py", "labels"): "dictionary columns (all tables)",
    ("writer.py", "dates"): "date columns (all tables)",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--persons", type=int, default=6_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--chunks", type=int, default=2)
    args = parser.parse_args()
    plans = plan_chunks(args.persons, 2005, 2024)
    chosen = [plans[round(k * (len(plans) - 1) / max(1, args.chunks))] for k in range(args.chunks + 1)]
    profile = cProfile.Profile(time.process_time)  # CPU time: other load on the machine does not count
    with tempfile.TemporaryDirectory(prefix="statservice-profile-") as tmp:
        generate_chunk(chosen[0], args.seed, Path(tmp))  # warm-up: imports, cached tables
        cpu_started = time.process_time()
        for plan in chosen[1:]:
            profile.runcall(generate_chunk, plan, args.seed, Path(tmp))
        cpu = (time.process_time() - cpu_started) / args.chunks
    stats = pstats.Stats(profile).stats  # type: ignore[attr-defined]
    seconds: dict[str, float] = {}
    for (filename, _, function), (_, _, _, cumulative, _) in stats.items():
        label = STEPS.get((Path(filename).name, function))
        if label is not None:
            seconds[label] = seconds.get(label, 0.0) + cumulative / args.chunks
    table = Table(title=f"one chunk of {plans[0].hi - plans[0].lo:,} persons (mean of {args.chunks})")
    table.add_column("step")
    table.add_column("CPU s (under the profiler)", justify="right")
    table.add_column("share", justify="right")
    total = sum(entry[3] for key, entry in stats.items() if key[2] == "generate_chunk") / args.chunks
    for label in STEPS.values():
        if label in seconds:
            table.add_row(label, f"{seconds[label]:.2f}", f"{seconds[label] / total:.0%}")
    table.add_row("whole chunk", f"{total:.2f}", "100%")
    Console().print(table)
    print(f"chunks={args.chunks} cpu_seconds_per_chunk={cpu:.2f} chunks_at_scale={len(plans)}")


if __name__ == "__main__":
    main()
