"""Comparing two storage layouts table by table (tests of the build's paths)."""

from __future__ import annotations

from pathlib import Path

import duckdb

from queries.storage import LAYOUT_ORDER


def assert_same_layouts(first: Path, second: Path) -> None:
    """Every layout table has the same columns and types, the same rows as multisets and the same
    sort keys in the same sequence (rows tied on every key may differ in order)."""
    connection = duckdb.connect()
    connection.execute(f"ATTACH '{first}' AS a (READ_ONLY)")
    connection.execute(f"ATTACH '{second}' AS b (READ_ONLY)")
    for name, order in LAYOUT_ORDER.items():
        assert (
            connection.execute(f"DESCRIBE a.{name}").fetchall()
            == connection.execute(f"DESCRIBE b.{name}").fetchall()
        ), name
        assert connection.execute(
            f"SELECT count(*) FROM (SELECT * FROM a.{name} EXCEPT ALL SELECT * FROM b.{name})"
        ).fetchone() == (0,), name
        assert (
            connection.execute(f"SELECT count(*) FROM a.{name}").fetchone()
            == connection.execute(f"SELECT count(*) FROM b.{name}").fetchone()
        ), name
        assert (
            connection.execute(f"SELECT {order} FROM a.{name}").fetchall()
            == connection.execute(f"SELECT {order} FROM b.{name}").fetchall()
        ), name
