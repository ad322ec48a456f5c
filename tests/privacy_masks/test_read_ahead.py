"""The decoders' reader thread (:func:`vms.media.transcode.read_ahead`): items in order,
an error in the thread raised to the consumer where it happened, a consumer that stops
early stops the thread and closes the producer (its ``with`` blocks exit)."""

from __future__ import annotations

import threading
from collections.abc import Generator

import pytest

from vms.media.transcode import read_ahead


def test_items_arrive_in_order_from_another_thread() -> None:
    seen: set[int] = set()

    def produce() -> Generator[int, None, None]:
        for n in range(100):
            seen.add(threading.get_ident())
            yield n

    assert list(read_ahead(produce(), depth=3)) == list(range(100))
    assert threading.get_ident() not in seen


def test_an_error_in_the_thread_reaches_the_consumer_after_the_items_before_it() -> None:
    def produce() -> Generator[int, None, None]:
        yield 1
        yield 2
        raise ValueError("corrupt packet")

    got: list[int] = []
    with pytest.raises(ValueError, match="corrupt packet"):
        for n in read_ahead(produce()):
            got.append(n)
    assert got == [1, 2]


def test_a_consumer_that_stops_early_stops_the_thread_and_closes_the_producer() -> None:
    closed = threading.Event()

    def produce() -> Generator[int, None, None]:
        try:
            n = 0
            while True:
                yield n
                n += 1
        finally:
            closed.set()

    before = threading.active_count()
    items = read_ahead(produce(), depth=2)
    assert next(items) == 0
    items.close()
    assert closed.is_set() and threading.active_count() == before
