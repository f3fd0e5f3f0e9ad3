"""Turn a chunk's integer arrays into Arrow tables typed as in schema.py and write Parquet parts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from synthetic_registers.dates import NEVER
from synthetic_registers.schema import TABLES_BY_NAME

_ARROW_TYPES = {
    "UINTEGER": pa.uint32(),
    "UTINYINT": pa.uint8(),
    "USMALLINT": pa.uint16(),
    "UBIGINT": pa.uint64(),
    "DATE": pa.date32(),
    "TIMESTAMP": pa.timestamp("us"),
    "VARCHAR": pa.string(),
    "DOUBLE": pa.float64(),
}


_REPEATING = {pa.string(), pa.date32(), pa.uint8(), pa.uint16()}
_LOW_CARDINALITY = {"apk", "volume", "vnr"}


def arrow_schema(table_name: str) -> pa.Schema:
    table = TABLES_BY_NAME[table_name]
    return pa.schema(
        [pa.field(c.name, _ARROW_TYPES[c.duckdb_type], nullable=c.nullable) for c in table.columns]
    )


def dates(days: np.ndarray) -> pa.Array:
    """Day numbers as date32; NEVER becomes null."""
    days = np.ascontiguousarray(days, dtype=np.int32)
    missing = days == NEVER
    return pa.array(days, mask=missing if missing.any() else None).cast(pa.date32())


def labels(ids: np.ndarray, dictionary: list[str] | tuple[str, ...]) -> pa.DictionaryArray:
    """Strings from integer ids into a dictionary; negative ids become null. The Parquet writer
    writes a string dictionary as it is (a dictionary of numbers or dates it would expand and hash
    again, so those columns go to it plain)."""
    ids = np.asarray(ids)
    if ids.dtype.kind not in "iu":
        ids = ids.astype(np.int64)
    # any integer width will do as Arrow indices, so the ids are not narrowed (narrowing a
    # national chunk's dispensings cost a tenth of a second)
    missing = ids < 0
    # without nulls the ids go to Arrow as they are, without a copy
    indices = pa.array(np.where(missing, 0, ids), mask=missing) if missing.any() else pa.array(ids)
    if len(ids) and int(ids.max()) >= len(dictionary):
        raise IndexError("label id outside its dictionary")
    # ids were checked above, so Arrow need not validate them again
    return pa.DictionaryArray.from_arrays(indices, pa.array(list(dictionary), pa.string()), safe=False)


def write_part(out_dir: Path, table_name: str, columns: dict[str, pa.Array | np.ndarray], part: int) -> int:
    """Write one Parquet part of a table; returns its row count."""
    schema = arrow_schema(table_name)
    arrays = []
    for field in schema:
        value = columns[field.name]
        if isinstance(value, pa.DictionaryArray):
            if value.type.value_type != field.type:
                raise TypeError(f"{table_name}.{field.name}: a dictionary of {value.type.value_type}")
            arrays.append(value)  # kept dictionary-encoded; the file's logical type is still a string
        elif isinstance(value, pa.Array):
            arrays.append(value.cast(field.type))
        else:
            arrays.append(pa.array(np.asarray(value)).cast(field.type))
    fields = [pa.field(f.name, a.type, nullable=f.nullable) for f, a in zip(schema, arrays, strict=True)]
    table = pa.Table.from_arrays(arrays, schema=pa.schema(fields))
    directory = out_dir / table_name
    directory.mkdir(parents=True, exist_ok=True)
    # dictionary pages only where values repeat (codes, dates, small integers), not for keys and amounts
    repeating = [f.name for f in schema if f.type in _REPEATING or f.name in _LOW_CARDINALITY]
    # min/max statistics where readers prune on them (dates, times), not on keys and amounts
    dated = [f.name for f in schema if f.type in (pa.date32(), pa.timestamp("us"))]
    pq.write_table(
        table,
        directory / f"part-{part:05d}.parquet",
        # LZ4: about a sixth less CPU than zstd level 1 over a national chunk's tables (the writing
        # is a quarter of the generator's time), and faster to read back, for files about 40 %
        # larger
        compression="lz4",
        store_schema=False,
        row_group_size=1_000_000,
        use_dictionary=repeating,
        write_statistics=dated or False,
    )
    return table.num_rows
