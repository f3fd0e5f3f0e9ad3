"""The Polars range sort and span summary give exactly DuckDB's ``ORDER BY`` and ``span_sql``
(property tests: random codes, dates and persons with NULLs, narrow and too-wide key ranges)."""

from __future__ import annotations

import datetime as dt

import duckdb
import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from queries.range_sort import _encoded, _packed_key, sort_range, summarise_spans
from queries.storage import LAYOUT_ORDER, span_sql

CODES = st.one_of(st.none(), st.sampled_from(["DE11", "DE10", "DI21", "DI219", "", "Æ1", "a", "Z"]))
DATES = st.one_of(st.none(), st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(2030, 12, 31)))
ROWS = st.lists(st.tuples(CODES, DATES, st.integers(0, 2**32 - 1), st.floats(0, 10)), max_size=60)


def _frame(rows: list[tuple]) -> pl.DataFrame:
    return pl.DataFrame(
        rows,
        schema={"code": pl.String, "event_date": pl.Date, "pnr": pl.UInt32, "amount": pl.Float64},
        orient="row",
    )


def _duckdb(sql: str, frame: pl.DataFrame) -> list[tuple]:
    connection = duckdb.connect()
    connection.register("events", frame.to_arrow())
    return connection.execute(sql).fetchall()


@settings(max_examples=60, deadline=None)
@given(ROWS)
def test_the_range_sort_is_duckdbs_order_by(rows):
    frame = _frame(rows)
    order = ["code", "event_date", "pnr"]
    ours = sort_range(frame, order).with_columns(pl.col("code").cast(pl.String))
    theirs = _duckdb("SELECT code, event_date, pnr FROM events ORDER BY code, event_date, pnr", frame)
    assert ours.select(order).rows() == theirs
    assert sorted(ours.rows(), key=repr) == sorted(frame.rows(), key=repr)  # the same rows, all columns


def test_keys_too_wide_to_pack_fall_back_to_a_multi_key_sort():
    rows = [(None, dt.date(1900, 1, 1), 2**32 - 1, 0.0), ("A", dt.date(2030, 1, 1), 0, 1.0)] * 3
    frame = _encoded(
        _frame(rows).with_columns(pl.col("pnr").cast(pl.Int64) * 2**31), ["code", "event_date", "pnr"]
    )
    assert _packed_key(frame, ["code", "event_date", "pnr"]) is None  # 2 + 16 + 63 bits
    ours = sort_range(frame.with_columns(pl.col("code").cast(pl.String)), ["code", "event_date", "pnr"])
    assert ours["code"].cast(pl.String).to_list() == ["A"] * 3 + [None] * 3


@settings(max_examples=40, deadline=None)
@given(ROWS, st.booleans())
def test_the_span_summary_is_span_sql(rows, by_year):
    frame = _frame(rows)
    name = "prescription_spans" if by_year else "diagnosis_spans"
    code = "atc" if by_year else "code"
    events = frame.rename({"code": code})
    ours = summarise_spans(sort_range(events, [code, "event_date", "pnr"]), code, by_year)
    sql = (
        span_sql(name)
        .from_("events", copy=False)
        .order_by(*LAYOUT_ORDER[name].split(", "), dialect="duckdb")
        .sql("duckdb")
    )
    theirs = _duckdb(sql, events)
    assert ours.with_columns(pl.col(code).cast(pl.String)).rows() == theirs
