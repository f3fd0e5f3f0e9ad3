"""The generator's fast paths give what the plain ones give: years from the day table, columns
handed to the Parquet writer already dictionary-encoded."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from synthetic_registers.dates import NEVER, day, year_of
from synthetic_registers.writer import dates, encoded, labels, write_part


def calendar_year(days: np.ndarray) -> np.ndarray:
    return days.astype("datetime64[D]").astype("datetime64[Y]").astype(np.int32) + 1970


def test_year_of_agrees_with_the_calendar_inside_and_outside_its_table():
    rng = np.random.default_rng(3)
    days = rng.integers(day(1700), day(2300), 200_000).astype(np.int32)
    days[::7] = NEVER
    days[::11] = NEVER - 1
    for values in (days, days.astype(np.int64), days[(days > day(1900)) & (days < day(2100))]):
        years = year_of(values)
        assert years.dtype == np.int32
        assert np.array_equal(years, calendar_year(values))
    assert year_of(np.array([day(2024, 12, 31), day(2025)])).tolist() == [2024, 2025]


def test_many_rows_over_few_days_go_dictionary_encoded_and_read_back_as_dates():
    days = np.array([day(2020, 1, 1), day(2020, 1, 3), NEVER, day(2020, 1, 1)] * 10, dtype=np.int32)
    column = dates(days)
    assert isinstance(column, pa.DictionaryArray)  # 40 rows over 3 days
    assert column.null_count == 10
    assert column.cast(pa.date32()).equals(pa.array(days, mask=days == NEVER).cast(pa.date32()))
    spread = dates(np.array([day(1990), day(2020)], dtype=np.int32))
    assert not isinstance(spread, pa.DictionaryArray)  # few rows over many days: plain
    assert dates(np.array([NEVER, NEVER], dtype=np.int32)).null_count == 2


def test_encoded_columns_are_written_as_their_values(tmp_path):
    rows = 1_000
    rng = np.random.default_rng(5)
    packages = rng.integers(0, 3, rows)
    atc = rng.integers(0, 4, rows).astype(np.int16)
    volume = np.array([28.0, 98.0, 28.0, 100.0])  # a dictionary may repeat a value
    eksd = rng.integers(day(2015), day(2015) + 30, rows).astype(np.int32)
    written = write_part(
        tmp_path,
        "lmdb",
        {
            "pnr": rng.integers(0, 2**32, rows, dtype=np.uint32),
            "eksd": dates(eksd),
            "atc": labels(atc, ("A10BA02", "A10BJ06", "C09AA02", "N02BE01")),
            "apk": encoded(packages, pa.array([1.0, 2.0, 3.0])),
            "volume": encoded(atc, pa.array(volume)),
            "vnr": np.full(rows, 100001, dtype=np.uint32),
            "indo": labels(np.where(packages == 2, -1, 0), ("1",)),
        },
        0,
    )
    assert written == rows
    table = pq.read_table(tmp_path / "lmdb" / "part-00000.parquet")
    assert table.schema.field("apk").type == pa.float64()
    assert table.schema.field("eksd").type == pa.date32()
    assert table.column("apk").to_pylist() == (packages + 1.0).tolist()
    assert table.column("volume").to_pylist() == volume[atc].tolist()
    assert table.column("eksd").cast(pa.int32()).to_pylist() == eksd.tolist()
    assert table.column("indo").null_count == int((packages == 2).sum())


def test_a_dictionary_of_the_wrong_type_or_an_id_outside_it_is_refused(tmp_path):
    with pytest.raises(IndexError):
        encoded(np.array([0, 3]), pa.array([1.0, 2.0]))
    with pytest.raises(TypeError, match="apk"):
        write_part(
            tmp_path,
            "lmdb",
            {
                "pnr": np.zeros(1, np.uint32),
                "eksd": dates(np.array([day(2015)], np.int32)),
                "atc": labels(np.array([0]), ("A10BA02",)),
                "apk": labels(np.array([0]), ("1",)),  # strings where the schema has doubles
                "volume": np.ones(1),
                "vnr": np.ones(1, np.uint32),
                "indo": labels(np.array([-1]), ("1",)),
            },
            0,
        )
