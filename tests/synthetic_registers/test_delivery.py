"""A CSV delivery is written part by part (a national prescription register does not fit in memory
as text), and gives the bytes the whole table written at once would."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import polars as pl

from synthetic_registers.delivery import write_delivery
from synthetic_registers.generate import generate_registers


def _digests(directory: Path) -> dict[str, str]:
    return {path.name: hashlib.sha256(path.read_bytes()).hexdigest() for path in sorted(directory.iterdir())}


def test_a_csv_delivery_of_an_extract_in_parts_is_the_one_of_the_same_rows_in_one_part(tmp_path):
    in_parts = tmp_path / "in-parts"
    generate_registers(in_parts, persons=3_000, seed=11, workers=1, chunk_persons=1_000, start_year=2016)
    assert len(list((in_parts / "lmdb").glob("*.parquet"))) == 3
    whole = tmp_path / "whole"
    shutil.copytree(in_parts, whole)
    for table in whole.iterdir():
        if table.is_dir():
            parts = sorted(table.glob("*.parquet"))
            merged = pl.read_parquet(parts)
            for part in parts:
                part.unlink()
            merged.write_parquet(table / "part-00000.parquet")

    write_delivery(in_parts, tmp_path / "delivery-parts", "csv")
    write_delivery(whole, tmp_path / "delivery-whole", "csv")

    assert _digests(tmp_path / "delivery-parts") == _digests(tmp_path / "delivery-whole")
    yearly = sorted(p.name for p in (tmp_path / "delivery-parts").glob("lmdb*.csv"))
    assert yearly == [f"lmdb{year}.csv" for year in range(2016, 2025)]
    first = (tmp_path / "delivery-parts" / "lmdb2016.csv").read_text(encoding="latin-1").splitlines()
    assert first[0].startswith("pnr;") and not any(line.startswith("pnr;") for line in first[1:])
