"""Reading a delivery one batch ahead: the same items in the same order, errors where they arose,
and no production past what the consumer could still take."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ingestion.readers import read_ahead


@given(st.lists(st.integers()), st.integers(min_value=1, max_value=4))
def test_read_ahead_yields_every_item_in_order(items, depth):
    assert list(read_ahead(iter(items), depth)) == items


def test_an_error_while_producing_is_raised_at_the_item_it_stopped():
    def produce() -> Iterator[int]:
        yield 1
        yield 2
        raise ValueError("row 3 of lmdb2019.csv does not parse")

    received = []
    with pytest.raises(ValueError, match="row 3"):
        for item in read_ahead(produce()):
            received.append(item)
    assert received == [1, 2]


def test_items_are_produced_on_another_thread_and_at_most_depth_ahead():
    produced: list[int] = []
    threads: set[str] = set()

    def produce() -> Iterator[int]:
        for number in range(100):
            threads.add(threading.current_thread().name)
            produced.append(number)
            yield number

    taken = []
    for item in read_ahead(produce(), depth=2):
        taken.append(item)
        if item == 4:
            break
    assert taken == [0, 1, 2, 3, 4]
    assert len(produced) <= len(taken) + 2  # stopping early leaves at most depth items unread
    assert threads and threading.current_thread().name not in threads
