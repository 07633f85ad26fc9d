"""The pull fetcher asks for what it can take, and the server delivers no more."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from nats.aio.client import Client as NatsClient

from attune_shared.bus import Bus, ExecutionRequested
from attune_shared.bus.consumer import PullFetcher
from attune_shared.bus.specs import EXECUTOR_EXECUTIONS

from .helpers import wait_for


async def test_fetches_only_what_was_asked_for(bus: Bus, nats_client: NatsClient) -> None:
    for i in range(10):
        await bus.execution_requested(
            ExecutionRequested(execution_id=i, created=datetime.now(UTC), action_ref="a.b")
        )
    fetcher = PullFetcher(nats_client, bus.spec.work_stream, EXECUTOR_EXECUTIONS, expires=0.5)
    await fetcher.start()
    try:
        await fetcher.request(3)
        await wait_for(lambda: _arrived(fetcher, 3), 5, "three messages")
        assert fetcher.idle  # complete: all three delivered
        info = await nats_client.jsm().consumer_info(bus.spec.work_stream, EXECUTOR_EXECUTIONS)
        assert (info.num_ack_pending, info.num_pending) == (3, 7)  # the rest stays for other replicas
        taken = fetcher.take(2)
        assert len(taken) == 2 and len(fetcher.arrived) == 1
        for msg in [*taken, *fetcher.drain()]:
            await msg.ack()

        # an empty consumer: the request lingers, delivers what comes, and ends when it expires
        await fetcher.request(20)
        assert not fetcher.idle
        await wait_for(lambda: _arrived(fetcher, 7), 5, "the other seven")
        await wait_for(lambda: _idle(fetcher), 5, "the request to expire")
        assert len(fetcher.drain()) == 7
    finally:
        await fetcher.stop()


async def _arrived(fetcher: PullFetcher, n: int) -> bool:
    await asyncio.sleep(0)
    return len(fetcher.arrived) >= n


async def _idle(fetcher: PullFetcher) -> bool:
    return fetcher.idle
