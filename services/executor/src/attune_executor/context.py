"""What the parts of the executor work with, built once by the app and handed to each part."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

from attune_executor.catalog_cache import CatalogCache
from attune_executor.finishing import Finisher
from attune_executor.policies import PolicyEngine
from attune_executor.wakeups import Wakeups
from attune_shared.bus import Bus
from attune_shared.settings import ExecutorSettings


@dataclass(frozen=True)
class ExecutorContext:
    pool: asyncpg.Pool
    bus: Bus
    settings: ExecutorSettings
    catalog: CatalogCache
    policies: PolicyEngine
    wakeups: Wakeups
    finisher: Finisher

    @classmethod
    def create(cls, pool: asyncpg.Pool, bus: Bus, settings: ExecutorSettings) -> ExecutorContext:
        catalog = CatalogCache(pool, settings.cache_ttl)
        policies = PolicyEngine(pool, bus)
        wakeups = Wakeups(bus)
        finisher = Finisher(pool, bus, settings, catalog, policies, wakeups)
        return cls(pool, bus, settings, catalog, policies, wakeups, finisher)
