"""A tiny deterministic register extract for the service tests when the shared ``small_registers``
fixture is not available: persons with sex, birth date and region, type 2 diabetes contacts in LPR2,
GLP-1 dispensings in LMDB; every other register is written empty (with its schema)."""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from synthetic_registers.schema import TABLES

ARROW = {
    "UINTEGER": pa.uint32(),
    "UTINYINT": pa.uint8(),
    "USMALLINT": pa.uint16(),
    "UBIGINT": pa.uint64(),
    "DATE": pa.date32(),
    "TIMESTAMP": pa.timestamp("us"),
    "VARCHAR": pa.string(),
    "DOUBLE": pa.float64(),
}


def write_tiny_registers(data_dir: Path, persons: int = 3000, seed: int = 7) -> Path:
    rng = random.Random(seed)
    rows: dict[str, list[dict]] = {t.name: [] for t in TABLES}
    recnum = 0
    for pnr in range(1, persons + 1):
        region = rng.choice([1081, 1082, 1083, 1084, 1085])
        born = dt.date(1930, 1, 1) + dt.timedelta(days=rng.randrange(0, 365 * 70))
        rows["bef"].append(
            {"pnr": pnr, "koen": rng.choice([1, 2]), "foed_dag": born, "reg": region, "kom": 101 + region % 7}
        )
        if rng.random() < 0.12:
            start = dt.date(2012, 1, 1) + dt.timedelta(days=rng.randrange(0, 365 * 7))
            recnum += 1
            rows["lpr_adm"].append(
                {
                    "pnr": pnr,
                    "recnum": recnum,
                    "d_inddto": start,
                    "d_uddto": start + dt.timedelta(days=1),
                    "c_pattype": rng.choice([0, 1]),
                    "c_sgh": "1301",
                    "c_spec": "08",
                    "c_adiag": "DE119",
                }
            )
            rows["lpr_diag"].append({"recnum": recnum, "c_diag": "DE119", "c_diagtype": "A"})
            if rng.random() < 0.4:
                rows["lmdb"].append(
                    {
                        "pnr": pnr,
                        "eksd": start + dt.timedelta(days=rng.randrange(0, 400)),
                        "atc": "A10BJ06",
                        "apk": 1.0,
                        "volume": 30.0,
                        "vnr": 123456,
                    }
                )
    data_dir.mkdir(parents=True, exist_ok=True)
    for table in TABLES:
        schema = pa.schema([pa.field(c.name, ARROW[c.duckdb_type]) for c in table.columns])
        columns = {c.name: [row.get(c.name) for row in rows[table.name]] for c in table.columns}
        pq.write_table(pa.table(columns, schema=schema), data_dir / f"{table.name}.parquet")
    return data_dir
