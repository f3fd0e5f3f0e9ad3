"""Reading one delivered file into a Polars frame: SAS7BDAT and SAS transport (pyreadstat), Danish
CSV (every field read as text, converted later so that each failure can be named), Parquet.

Every frame gets ``ROW`` (the data row's 1-based number in its file, the header not counted), so a
problem is reported by file, row and variable.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar, cast

import polars as pl
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from ingestion.mapping import Mapping

ROW = "__row"
READERS = (".csv", ".txt", ".sas7bdat", ".xpt", ".parquet")
# Rows converted and written at a time: bounds the memory of a national file (an LMDB year is
# about 60 million rows) to a few hundred MB per batch.
BATCH_ROWS = 2_000_000
# Batches read ahead while the previous one is converted and written (each one more batch of memory)
READ_AHEAD = 2

T = TypeVar("T")


def is_delivery_file(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in READERS


def delivered_columns(path: Path, mapping: Mapping) -> list[str]:
    """The variable names in a file, as delivered (without reading its rows)."""
    suffix = path.suffix.lower()
    if suffix in (".csv", ".txt"):
        with path.open("rb") as handle:
            header = handle.readline().decode(mapping.csv_encoding).strip("\r\n")
        return [name.strip().strip('"') for name in header.split(mapping.csv_separator)]
    if suffix == ".parquet":
        return list(pl.read_parquet_schema(path))
    import pyreadstat

    reader = pyreadstat.read_sas7bdat if suffix == ".sas7bdat" else pyreadstat.read_xport
    _, meta = reader(str(path), metadataonly=True)
    return list(meta.column_names)


def read_file(
    path: Path, mapping: Mapping, columns: list[str], batch_rows: int = BATCH_ROWS
) -> Iterator[pl.DataFrame]:
    """The named variables of a delivered file in batches of about ``batch_rows`` rows, each with the
    row number ``ROW`` (counted through the whole file), so a national file never sits in memory whole."""
    offset = 1
    for frame in _batches(path, mapping, columns, batch_rows):
        yield frame.select(columns).with_row_index(ROW, offset=offset)
        offset += len(frame)


def read_ahead(items: Iterable[T], depth: int = READ_AHEAD) -> Iterator[T]:
    """``items`` in their order, produced up to ``depth`` ahead on one background thread: parsing a
    file (Arrow's CSV reader, pyreadstat) and converting the batch before (Polars) both run outside
    the interpreter lock, so the two overlap on two cores. An error while producing is raised here,
    at the item it stopped; a consumer that stops early leaves at most ``depth`` items produced."""
    iterator = iter(items)
    end = object()
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="read-ahead") as pool:
        # one worker: the next() calls run one after another, never concurrently
        pending: deque[Future[object]] = deque(pool.submit(next, iterator, end) for _ in range(depth))
        try:
            while True:
                item = pending.popleft().result()
                if item is end:
                    return
                pending.append(pool.submit(next, iterator, end))
                yield cast(T, item)  # not the sentinel: an item of ``items``
        finally:
            for future in pending:
                future.cancel()


def _batches(path: Path, mapping: Mapping, columns: list[str], batch_rows: int) -> Iterator[pl.DataFrame]:
    suffix = path.suffix.lower()
    if suffix in (".csv", ".txt"):
        # Arrow's streaming reader decodes the declared encoding block by block; every field stays
        # text so the conversion can say which row did not parse.
        reader = pa_csv.open_csv(
            path,
            read_options=pa_csv.ReadOptions(
                encoding=mapping.csv_encoding, block_size=min(64 << 20, max(1 << 16, batch_rows * 64))
            ),
            parse_options=pa_csv.ParseOptions(delimiter=mapping.csv_separator),
            convert_options=pa_csv.ConvertOptions(
                include_columns=columns, column_types=dict.fromkeys(columns, pa.string())
            ),
        )
        pending: list[pa.RecordBatch] = []
        held, yielded = 0, False
        for batch in reader:
            pending.append(batch)
            held += batch.num_rows
            if held >= batch_rows:
                yield pl.from_arrow(pa.Table.from_batches(pending))  # type: ignore[misc]
                pending, held, yielded = [], 0, True
        if pending or not yielded:  # the rest, or a file of a header only
            yield pl.from_arrow(pa.Table.from_batches(pending, schema=reader.schema))  # type: ignore[misc]
    elif suffix == ".parquet":
        parquet = pq.ParquetFile(path)
        empty = True
        for batch in parquet.iter_batches(batch_size=batch_rows, columns=columns):
            empty = False
            yield pl.from_arrow(pa.Table.from_batches([batch]))  # type: ignore[misc]
        if empty:
            yield pl.from_arrow(parquet.schema_arrow.empty_table().select(columns))  # type: ignore[misc]
    else:
        import pyreadstat

        reader = pyreadstat.read_sas7bdat if suffix == ".sas7bdat" else pyreadstat.read_xport
        for frame, _ in pyreadstat.read_file_in_chunks(
            reader, str(path), chunksize=batch_rows, usecols=columns, output_format="polars"
        ):
            yield frame
