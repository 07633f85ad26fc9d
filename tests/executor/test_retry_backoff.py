"""Action retries back off exponentially, capped, with jitter."""

from attune_executor.finishing import retry_delay
from attune_shared.settings import ExecutorSettings


def test_backoff_doubles_then_stops_at_the_cap_with_jitter() -> None:
    settings = ExecutorSettings(retry_backoff=1.0, retry_backoff_max=300.0)
    for n, full in ((0, 1.0), (3, 8.0), (8, 256.0)):
        delays = [retry_delay(n, settings) for _ in range(200)]
        assert all(full / 2 <= d <= full for d in delays)
        assert max(delays) - min(delays) > full / 10  # jittered, not one value
    # max_retries: 20 used to wait 2^19 s (six days) before the last try
    assert all(150.0 <= retry_delay(19, settings) <= 300.0 for _ in range(200))
    assert retry_delay(10_000, settings) <= 300.0
