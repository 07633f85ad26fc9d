"""The one TTL cache: batch loads, shared loads, expiry, and a clear that outlives older reads."""

import asyncio

import pytest

from attune_shared.cache import TtlCache


async def test_missing_keys_load_once_in_one_batch_and_share_concurrent_loads() -> None:
    calls: list[list[str]] = []
    gate = asyncio.Event()

    async def load(keys: list[str]) -> dict[str, int]:
        calls.append(sorted(keys))
        await gate.wait()
        return {k: len(k) for k in keys if k != "absent"}

    cache: TtlCache[str, int | None] = TtlCache(load, 60, default=None)
    first = asyncio.create_task(cache.get_many(["a", "bb", "absent"]))
    second = asyncio.create_task(cache.get("bb"))
    await asyncio.sleep(0)
    gate.set()
    assert await first == {"a": 1, "bb": 2, "absent": None}
    assert await second == 2
    assert calls == [["a", "absent", "bb"]]
    assert await cache.get_many(["a", "absent"]) == {"a": 1, "absent": None}
    assert len(calls) == 1  # found and not found are both cached


async def test_entries_expire_after_their_ttl() -> None:
    loads = 0

    async def load(keys: list[str]) -> dict[str, int]:
        nonlocal loads
        loads += 1
        return dict.fromkeys(keys, loads)

    cache: TtlCache[str, int] = TtlCache(load, 0.0, default=0)
    assert await cache.get("k") == 1
    assert await cache.get("k") == 2


async def test_clear_discards_a_load_that_started_before_it() -> None:
    gate, started = asyncio.Event(), asyncio.Event()
    version = "old"

    async def load(keys: list[str]) -> dict[str, str]:
        seen = version
        started.set()
        await gate.wait()
        return dict.fromkeys(keys, seen)

    cache: TtlCache[str, str] = TtlCache(load, 60, default="")
    stale = asyncio.create_task(cache.get("rule"))
    await asyncio.wait_for(started.wait(), 5)
    version = "new"
    cache.clear()  # a rule changed while the old read was in flight
    gate.set()
    assert await stale == "old"  # its caller gets what it asked for ...
    assert await cache.get("rule") == "new"  # ... but the cache does not keep it


async def test_a_slow_load_times_out_and_is_not_left_for_later_callers() -> None:
    async def load(keys: list[str]) -> dict[str, int]:
        await asyncio.sleep(10)
        return {}

    cache: TtlCache[str, int] = TtlCache(load, 60, default=0, timeout=0.05)
    with pytest.raises(TimeoutError):
        await cache.get("k")
    with pytest.raises(TimeoutError):
        await cache.get("k")  # a new load, not the failed one
