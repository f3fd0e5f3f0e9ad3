"""The generator's fast paths give what the plain ones give: years from the day table, labels
handed to the Parquet writer at their own integer width."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from synthetic_registers.dates import NEVER, day, year_of
from synthetic_registers.writer import dates, labels, write_part


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


def test_labels_of_any_integer_width_are_written_as_their_strings(tmp_path):
    rows = 1_000
    rng = np.random.default_rng(5)
    atc = rng.integers(0, 4, rows).astype(np.int16)  # as the dispensings keep them
    indication = rng.integers(-1, 1, rows).astype(np.int8)  # -1: no indication
    codes = ("A10BA02", "A10BJ06", "C09AA02", "N02BE01")
    eksd = rng.integers(day(2015), day(2015) + 30, rows).astype(np.int32)
    written = write_part(
        tmp_path,
        "lmdb",
        {
            "pnr": rng.integers(0, 2**32, rows, dtype=np.uint32),
            "eksd": dates(eksd),
            "atc": labels(atc, codes),
            "apk": np.ones(rows),
            "volume": np.full(rows, 28.0),
            "vnr": np.full(rows, 100001, dtype=np.uint32),
            "indo": labels(indication, ("1",)),
        },
        0,
    )
    assert written == rows
    table = pq.read_table(tmp_path / "lmdb" / "part-00000.parquet")
    assert table.column("atc").to_pylist() == [codes[k] for k in atc]
    assert table.column("indo").to_pylist() == [None if k < 0 else "1" for k in indication]
    assert table.column("eksd").cast(pa.int32()).to_pylist() == eksd.tolist()
    assert dates(np.array([day(2015), NEVER], np.int32)).null_count == 1  # NEVER: no such date


def test_a_label_outside_its_dictionary_or_labels_where_numbers_belong_are_refused(tmp_path):
    with pytest.raises(IndexError):
        labels(np.array([0, 3]), ("A", "B"))
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
