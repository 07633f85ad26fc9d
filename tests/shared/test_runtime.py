"""What a service's runtime does once the service is ready."""

import gc
from collections.abc import Iterator
from types import SimpleNamespace

import pytest

from attune_shared import runtime


@pytest.fixture
def collections_counted(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """The generation of every collection from now on; the collector left as it was found."""
    threshold = gc.get_threshold()
    monkeypatch.setattr(runtime, "HEALTH", SimpleNamespace(mark_ready=lambda: None))
    seen: list[int] = []

    def count(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            seen.append(info["generation"])

    gc.callbacks.append(count)
    yield seen
    gc.callbacks.remove(count)
    gc.unfreeze()
    gc.set_threshold(*threshold)


def test_a_ready_service_collects_young_objects_rarely(collections_counted: list[int]) -> None:
    """Per message a service allocates thousands of objects that reference counting frees; the
    youngest generation is collected every 10,000 allocations, not every 700."""
    gc.set_threshold(700, 10, 10)
    gc.collect()
    collections_counted.clear()
    before = [[i] for i in range(5_000)]  # containers that survive: each counts as an allocation
    assert 0 in collections_counted  # Python's default collects several times over these

    runtime.ready("test")
    collections_counted.clear()
    after = [[i] for i in range(5_000)]
    assert collections_counted == []
    assert gc.get_threshold()[0] == runtime.GC_YOUNG_THRESHOLD
    assert len(before) == len(after)
