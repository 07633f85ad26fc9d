"""GroupWriter: what is submitted while a write is in flight goes together in the next write."""

from __future__ import annotations

import asyncio

import pytest

from attune_shared.batching import GroupWriter


class Recorder:
    """A write that records its batches and can be held open, to submit while it is in flight."""

    def __init__(self) -> None:
        self.batches: list[list[tuple[str, int]]] = []
        self.gate = asyncio.Event()
        self.gate.set()
        self.writing = asyncio.Event()
        self.fail_on: str | None = None
        self.announced: list[list[int]] = []

    async def write(self, items: list[tuple[str, int]]) -> list[int]:
        self.batches.append(items)
        self.writing.set()
        await self.gate.wait()
        if self.fail_on is not None and any(key == self.fail_on for key, _ in items):
            raise RuntimeError(f"cannot write {self.fail_on}")
        return [value * 10 for _, value in items]

    async def after(self, items: list[tuple[str, int]], results: list[int]) -> None:
        self.announced.append(results)


def _writer(rec: Recorder, max_batch: int = 100) -> GroupWriter[tuple[str, int], int]:
    return GroupWriter(rec.write, key=lambda item: item[0], max_batch=max_batch, after=rec.after)


async def test_alone_an_item_is_written_at_once_and_gets_its_result() -> None:
    rec = Recorder()
    assert await asyncio.wait_for(_writer(rec).submit(("a", 1)), 5) == 10
    assert rec.batches == [[("a", 1)]]
    assert rec.announced == [[10]]


async def test_what_arrives_during_a_write_goes_together_in_the_next() -> None:
    rec = Recorder()
    writer = _writer(rec)
    rec.gate.clear()
    first = asyncio.create_task(writer.submit(("a", 1)))
    await asyncio.wait_for(rec.writing.wait(), 5)
    later = [asyncio.create_task(writer.submit((key, n))) for n, key in enumerate("bcd", start=2)]
    many = asyncio.create_task(writer.submit_many([("e", 5), ("f", 6)]))
    for _ in range(20):  # let the loop turn: the submissions wait for the write in flight
        await asyncio.sleep(0)
    assert len(rec.batches) == 1  # nothing else is written while the first write is in flight
    rec.gate.set()
    results = await asyncio.wait_for(asyncio.gather(first, *later, many), 5)
    assert results == [10, 20, 30, 40, [50, 60]]
    assert rec.batches == [[("a", 1)], [("b", 2), ("c", 3), ("d", 4), ("e", 5), ("f", 6)]]


async def test_the_same_key_never_shares_a_write_and_batches_are_bounded() -> None:
    rec = Recorder()
    writer = _writer(rec, max_batch=2)
    results = await asyncio.wait_for(writer.submit_many([("a", 1), ("a", 2), ("b", 3), ("c", 4)]), 5)
    assert results == [10, 20, 30, 40]
    assert rec.batches == [[("a", 1), ("b", 3)], [("a", 2), ("c", 4)]]


async def test_a_failed_write_fails_its_own_callers_only() -> None:
    rec = Recorder()
    writer = _writer(rec)
    rec.fail_on = "bad"
    rec.gate.clear()
    first = asyncio.create_task(writer.submit(("bad", 1)))
    await asyncio.wait_for(rec.writing.wait(), 5)
    second = asyncio.create_task(writer.submit(("good", 2)))
    rec.gate.set()
    with pytest.raises(RuntimeError, match="cannot write bad"):
        await asyncio.wait_for(first, 5)
    assert await asyncio.wait_for(second, 5) == 20
    assert rec.announced == [[20]]  # only the written batch is announced
