"""Helpers for the tests that run billing from several threads at once."""

from sqlalchemy import Engine


def warm_pool(engine: Engine, connections: int) -> None:
    """Open ``connections`` at once and return them to the pool, so threads start without connecting
    (and without opening a transaction, which under BEGIN IMMEDIATE would take the write lock)."""
    opened = [engine.connect() for _ in range(connections)]
    for connection in opened:
        connection.close()
